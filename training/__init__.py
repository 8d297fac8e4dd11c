"""predlog training: builds model bundles (scikit-learn + pyod, exported for the api's runtime).

Needs the ``train`` extra; the api itself never imports this package.
"""
