"""Feedback of a known accuracy for a load run: ground truth posted to ``/feedback``.

For a fraction of the answered requests, the truth of each row is sent by job_id: the
model's own answer with probability ``accuracy``, else another label drawn at random (a
regressor's: its answer plus ``REGRESSOR_MISS``). The Quality page then shows that
accuracy, within sampling error. Items are posted in batches, off the schedule of sends.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import numpy as np
import orjson

BATCH = 100
"""Most feedback items per POST /feedback (the api takes up to 1000)."""
FLUSH_AFTER_S = 1.0
"""Feedback waits at most about this long for its batch to fill."""
REGRESSOR_MISS = 1.0
"""What a regressor's wrong truth adds to its answer."""
HEADERS = {"Content-Type": "application/json"}


@dataclass
class FeedbackCounts:
    """What the feedback sender did in one run."""

    items: int = 0
    """Feedback items posted."""
    right: int = 0
    """Of those, the ones whose truth is the model's answer."""
    accepted: int = 0
    """Items the api accepted (202)."""
    failed: int = 0
    """Items of posts that failed or were refused."""
    requests: int = 0
    """POST /feedback requests made."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return asdict(self)


def answers(body: Any) -> tuple[str, list[tuple[str | None, float | None]]] | None:
    """The job_id and, per row, the answered label or value, of a prediction's answer.

    Shapes: /predict (probabilities or ``[value]``, a list of them for several rows),
    /predict/label (``{"proba", "label"}``, or a list) and /predict/batch (``results``).
    A classifier answered with probabilities only gets ``"#<index>"`` for its label (see
    ``FeedbackSender``, which knows the labels).
    """
    if not isinstance(body, dict) or not isinstance(body.get("job_id"), str):
        return None
    if isinstance(body.get("results"), list):  # /predict/batch
        rows = [(r.get("label"), r.get("prediction")) for r in body["results"]]
        return body["job_id"], [_row(label, prediction) for label, prediction in rows]
    prediction: Any = body.get("prediction")
    several = isinstance(prediction, list) and bool(prediction)
    items: list[Any] = (
        prediction if several and isinstance(prediction[0], list | dict) else [prediction]
    )
    out: list[tuple[str | None, float | None]] = []
    for item in items:
        if isinstance(item, dict):
            label = item.get("label")
            out.append((label if isinstance(label, str) else None, None))
        else:
            out.append(_row(None, item))
    return body["job_id"], out


def _row(label: Any, prediction: Any) -> tuple[str | None, float | None]:
    if isinstance(label, str):
        return label, None
    if isinstance(prediction, list) and len(prediction) == 1:
        return None, float(prediction[0])  # a regressor's one value
    if isinstance(prediction, list) and prediction:
        return f"#{max(range(len(prediction)), key=prediction.__getitem__)}", None
    return None, None


class FeedbackSender:
    """Posts ground truth for a share of the answers, right with a given probability."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        labels: list[str],
        fraction: float,
        accuracy: float,
        seed: int | None = None,
    ) -> None:
        """``url``: the api's /feedback; ``labels``: class index -> label (empty: a regressor)."""
        self.session = session
        self.url = url
        self.labels = labels
        self.fraction = fraction
        self.accuracy = accuracy
        self.counts = FeedbackCounts()
        self._rng = np.random.default_rng(seed)
        self._pending: list[dict[str, Any]] = []
        self._since = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def observe(self, raw: bytes) -> None:
        """An answered request's body: maybe queue its rows' truth, and post a full batch."""
        if self.fraction <= 0 or self._rng.random() >= self.fraction:
            return
        try:
            found = answers(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return
        if found is None:
            return
        job_id, rows = found
        for row, (label, value) in enumerate(rows):
            item = self._truth(job_id, row, label, value)
            if item is not None:
                if not self._pending:
                    self._since = time.monotonic()
                self._pending.append(item)
        if len(self._pending) >= BATCH or time.monotonic() - self._since >= FLUSH_AFTER_S:
            self._post()

    def _truth(
        self, job_id: str, row: int, label: str | None, value: float | None
    ) -> dict[str, Any] | None:
        right = self._rng.random() < self.accuracy
        item: dict[str, Any] = {"job_id": job_id, "row": row}
        if label is not None:
            if label.startswith("#"):  # probabilities: the label by index
                index = int(label[1:])
                if index >= len(self.labels):
                    return None
                label = self.labels[index]
            others = [other for other in self.labels if other != label]
            wrong = others[int(self._rng.integers(len(others)))] if others else label
            item["label"] = label if right else wrong
            right = item["label"] == label
        elif value is not None:
            item["value"] = value if right else value + REGRESSOR_MISS
        else:
            return None
        self.counts.items += 1
        self.counts.right += right
        return item

    def _post(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[dict[str, Any]]) -> None:
        self.counts.requests += 1
        try:
            async with self.session.post(
                self.url, data=orjson.dumps(batch), headers=HEADERS
            ) as response:
                await response.read()
                accepted = response.status == 202
        except Exception:  # a load run counts every failure and goes on
            accepted = False
        if accepted:
            self.counts.accepted += len(batch)
        else:
            self.counts.failed += len(batch)

    async def close(self, wait_s: float) -> FeedbackCounts:
        """Post what is queued and wait for every post (at most ``wait_s`` seconds)."""
        self._post()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait_s)
        return self.counts


async def fetch_labels(session: aiohttp.ClientSession, url: str) -> list[str]:
    """Class index -> label from ``GET /label`` (``url`` with the run's model query)."""
    async with session.get(url) as response:
        if response.status != 200:
            return []
        body = orjson.loads(await response.read())
    if not isinstance(body, dict):
        return []
    return [str(body[key]) for key in sorted(body, key=int)]
