"""What every command shares: the user-facing error, progress bars, safe output files, parsing."""
import math
import os
import sys
import time


class CliError(Exception):
    """A problem the user can fix; main() prints it without a traceback and exits with 2."""


# ---------------------------------------------------------------- progress

class _SimpleBar:
    """A one-line stderr progress bar for when tqdm is not installed."""

    def __init__(self, total, desc, unit):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self._t0 = self._last = time.perf_counter()

    def update(self, n=1):
        self.n += n
        now = time.perf_counter()
        if now - self._last >= 0.2 or self.n >= self.total:
            self._last = now
            frac = self.n / self.total if self.total else 1.0
            bar = "#" * int(30 * frac)
            rate = self.n / max(now - self._t0, 1e-9)
            sys.stderr.write(f"\r{self.desc}: [{bar:<30}] {self.n}/{self.total} {self.unit} ({rate:.1f}/s)")
            sys.stderr.flush()

    def close(self):
        if self.n:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def progress(total, desc, enabled, unit="planes"):
    """A progress bar (tqdm when installed) or a no-op; call update(n) and close()."""
    if not enabled or not total:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _SimpleBar(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=f" {unit}", file=sys.stderr, leave=False, dynamic_ncols=True)


def progress_enabled(args):
    """--progress / --no-progress; by default on when stderr is a terminal."""
    if getattr(args, "quiet", False):
        return False
    choice = getattr(args, "progress", None)
    return sys.stderr.isatty() if choice is None else choice


# ---------------------------------------------------------------- output files

def check_output(path, force):
    """Refuse to overwrite without --force; check that the folder exists and is writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CliError(f"{path}: cannot write in {folder} (permission denied)")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a folder")
    if os.path.exists(path) and not force:
        raise CliError(f"{path} exists; use --force to overwrite it")


class AtomicOutput:
    """Write to a hidden temporary name next to `path`; rename onto `path` only in commit().

    On any failure (or if commit() is never called) the temporary file is removed, so no
    half-written file ever carries the final name and an existing file is kept until then.
    """

    def __init__(self, path, force=False):
        check_output(path, force)
        self.path = path
        folder, base = os.path.split(os.path.abspath(path))
        self.tmp = os.path.join(folder, f".{base}.sqeazy-tmp-{os.getpid()}")
        self.committed = False

    def commit(self):
        os.replace(self.tmp, self.path)
        self.committed = True

    def discard(self):
        if not self.committed and os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self.committed:
            self.discard()
        return False


# ---------------------------------------------------------------- parsing

def parse_ints(text, what, n=None):
    try:
        values = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{what}: expected comma-separated integers, not {text!r}") from None
    if n is not None and len(values) != n:
        raise CliError(f"{what}: expected {n} values, not {len(values)} ({text!r})")
    if any(v < 1 for v in values):
        raise CliError(f"{what}: values must be >= 1 ({text!r})")
    return values


def parse_floats(text, what, n):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise CliError(f"{what}: expected {n} comma-separated numbers, not {text!r}") from None
    if len(values) != n or not all(math.isfinite(v) and v > 0 for v in values):
        raise CliError(f"{what}: expected {n} positive numbers, not {text!r}")
    return values


def auto_chunks(shape, itemsize, target_bytes=2 << 20):
    """Chunk shape: full planes up to 256 x 256 along the last two axes, then as many of the
    leading axes as fit in about `target_bytes` (2 MiB of raw data)."""
    ndim = len(shape)
    chunks = [1] * ndim
    for d in range(max(0, ndim - 2), ndim):
        chunks[d] = min(shape[d], 256)
    for d in range(ndim - 3, -1, -1):
        per = itemsize * math.prod(chunks)
        chunks[d] = max(1, min(shape[d], target_bytes // per))
        if chunks[d] < shape[d]:
            break
    return tuple(max(1, c) for c in chunks)


def resolve_chunks(text, shape, itemsize):
    if text in (None, "", "auto"):
        return auto_chunks(shape, itemsize)
    values = parse_ints(text, "--chunks", len(shape))
    return tuple(min(v, s) if s else v for v, s in zip(values, shape))


CAMERA_FIELDS = ("offset", "gain", "read_noise")


def camera_pipeline(pipeline, args):
    """Put --camera-offset/--camera-gain/--camera-read-noise into the lossy stages of `pipeline`.

    Camera parameters reach lossy stages as pipeline text (``wnl`` -> ``wnl(offset=100,gain=2.5)``);
    a value already written in the text wins. Returns (pipeline, attributes to store).
    """
    import sys
    from .. import stages
    values = {k: getattr(args, f"camera_{k}", None) for k in CAMERA_FIELDS}
    given = {k: v for k, v in values.items() if v is not None}
    attrs = {f"camera_{k}": v for k, v in given.items()}
    if not given:
        return pipeline, attrs
    lossy = set(stages(lossy=True))
    parts, used = [], False
    for part in pipeline.split("->"):
        name, _, rest = part.strip().partition("(")
        name = name.strip()
        if name in lossy:
            used = True
            params = [p.strip() for p in rest.rstrip(") ").split(",") if p.strip()] if rest else []
            present = {p.split("=")[0].strip() for p in params}
            params += [f"{k}={v:g}" for k, v in given.items() if k not in present]
            part = f"{name}({','.join(params)})"
        parts.append(part.strip())
    if not used:
        print(f"sqeazy: note: the pipeline {pipeline!r} has no lossy stage; the camera parameters are only "
              "stored as attributes", file=sys.stderr)
    return "->".join(parts), attrs


def add_camera_options(p):
    g = p.add_argument_group("camera (for lossy stages such as wnl; written into their parameters)")
    g.add_argument("--camera-offset", type=float, metavar="ADU", help="dark level of the camera (ADU)")
    g.add_argument("--camera-gain", type=float, metavar="ADU/e", help="camera gain (ADU per electron)")
    g.add_argument("--camera-read-noise", type=float, metavar="e", help="read noise (electrons RMS)")


def add_progress_options(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def human_bytes(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1000.0
    return f"{n:.1f} TB"


def say(args, *parts):
    if not getattr(args, "quiet", False):
        print(*parts)
