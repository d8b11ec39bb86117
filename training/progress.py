"""Progress lines with elapsed time and ETA, at most every few seconds."""
import sys
import time


class Progress:
    def __init__(self, label: str, total_steps: int, every_s: float = 15.0):
        self.label, self.total, self.every = label, total_steps, every_s
        self.start = self.last = time.time()

    def step(self, done: int, message: str = "", force: bool = False):
        now = time.time()
        if not force and now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / max(done, 1) * (self.total - done)
        print(f"[{self.label}] {done}/{self.total} steps  {elapsed:6.0f}s elapsed  ETA {eta:5.0f}s  {message}",
              flush=True, file=sys.stdout)
