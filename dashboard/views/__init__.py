"""The dashboard's pages: each a Streamlit page script that only calls cached queries and draws."""
