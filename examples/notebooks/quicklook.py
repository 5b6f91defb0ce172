"""A PNG quicklook of a 2-d map, brown (low) to green (high) as rsdat-ndvi-demo's, with
the colour scale along the bottom; NaN pixels grey. NumPy and the standard library only
(no plotting package needed): show it in a notebook with IPython.display.Image."""
import struct
import zlib

import numpy as np

# rsdat-ndvi-demo's colour stops (examples/quicklook.cpp).
STOPS = np.array([[140, 81, 10], [216, 179, 101], [246, 232, 195], [127, 188, 65], [0, 104, 55]], dtype=np.float64)


def colours(t):
    """RGB (..., 3) uint8 for values t in [0, 1] (clipped) along the colour stops."""
    t = np.clip(t, 0, 1) * (len(STOPS) - 1)
    i = np.minimum(t.astype(int), len(STOPS) - 2)
    f = (t - i)[..., None]
    return np.rint(STOPS[i] * (1 - f) + STOPS[i + 1] * f).astype(np.uint8)


def png(map2d, vmin=0.0, vmax=1.0, bar=12):
    """The PNG bytes of `map2d` scaled from vmin to vmax, a colour bar of `bar` rows below."""
    m = np.asarray(map2d, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"quicklook: a non-empty 2-d map is needed, not shape {m.shape}")
    nan = np.isnan(m)
    rgb = colours(np.where(nan, 0, (m - vmin) / (vmax - vmin)))
    rgb[nan] = 128
    scale = colours(np.linspace(0, 1, m.shape[1]))[None].repeat(bar, axis=0)
    image = np.concatenate([rgb, np.full((2, m.shape[1], 3), 255, np.uint8), scale])
    raw = b"".join(b"\0" + row.tobytes() for row in image)  # filter type 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", image.shape[1], image.shape[0], 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
