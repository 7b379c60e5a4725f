"""Progress bars (tqdm) that can be switched off."""


def progress(iterable, desc: str = "", enable: bool = True, total=None):
    if not enable:
        return iterable
    from tqdm.auto import tqdm  # noqa: PLC0415
    return tqdm(iterable, desc=desc, total=total, leave=False)
