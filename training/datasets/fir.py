"""Anti-aliased integer decimation with a windowed-sinc FIR, used to bring the 48 kHz normal baseline to 12 kHz."""
import numpy as np


def lowpass_taps(cutoff: float, taps: int = 129) -> np.ndarray:
    """Hamming-windowed sinc low-pass; `cutoff` is a fraction of the Nyquist frequency. Unit DC gain."""
    n = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.hamming(taps)
    return h / h.sum()


def decimate(signal: np.ndarray, factor: int, taps: int = 129) -> np.ndarray:
    """Filter below 0.9 x the new Nyquist frequency (zero-phase, same length), then keep every `factor`-th sample."""
    filtered = np.convolve(signal.astype(np.float64), lowpass_taps(0.9 / factor, taps), mode="same")
    return filtered[::factor].astype(np.float32)
