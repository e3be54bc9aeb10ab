"""The host side of a launch: ``kernel[grid](*args, **kwargs)`` bound to the translated kernel's parameters,
autotune configurations and heuristics filled in."""

from porter.translate.triton.nki_tl.core import PMAX

LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion", "launch_cooperative_grid")


def pick_runtime_config(configs, mode):
    """The first autotune configuration whose block sizes fit (<= 128 in program mode), as a dict."""
    dicts = [dict(getattr(c, "kwargs", c)) for c in configs or ()]
    for d in dicts:
        ints = [v for v in d.values() if isinstance(v, int) and not isinstance(v, bool)]
        if mode != "program" or all(v <= PMAX for v in ints):
            return d
    return dicts[0] if dicts else None


def host_launch(kernel, params, grid, args, kwargs, config=None, heuristics=None, configs=None, mode="rows",
                autotuner=None):
    """Call the NKI translation ``kernel`` the way ``triton_kernel[grid](*args, **kwargs)`` calls the original.

    ``params`` are the Triton kernel's parameter names; ``config`` the autotune configuration porter picked
    (its values fill parameters the call leaves out); ``heuristics`` the ``@triton.heuristics`` functions (their
    values replace the call's, as in Triton).  ``autotuner``: the Triton kernel object launched; when it is an
    Autotuner its ``best_config`` is set to the configuration used, as a Triton launch sets it (host code reads
    ``kernel.best_config.kwargs['BLOCK_SIZE']`` after launching).
    """
    bound = dict(zip(params, args, strict=False))
    for k, v in kwargs.items():
        if k in params:
            bound[k] = v
        elif k not in LAUNCH_OPTIONS:
            raise TypeError(f"{getattr(kernel, '__name__', kernel)}: unexpected keyword argument {k!r}")
    if config is None and configs:
        config = pick_runtime_config(configs, mode)
    _record_best_config(autotuner, config)
    for k, v in (config or {}).items():
        if k in params and k not in bound:
            bound[k] = v
    for k, fn in (heuristics or {}).items():  # as Triton's Heuristics: over a value the call passed, in order
        bound[k] = fn(dict(bound))
    missing = [p for p in params if p not in bound]
    if missing:
        raise TypeError(f"{getattr(kernel, '__name__', kernel)}: missing argument(s) {', '.join(missing)}")
    g = grid(dict(bound)) if callable(grid) else grid
    g = tuple(int(v) for v in (g if isinstance(g, (tuple, list)) else (g,)))
    return kernel(*[bound[p] for p in params], _grid=g)


def _record_best_config(autotuner, config):
    """``autotuner.best_config`` := its configuration whose values are ``config`` (the one this launch used)."""
    if autotuner is None or not hasattr(autotuner, "configs") or config is None:
        return
    for c in autotuner.configs or ():
        if dict(getattr(c, "kwargs", c)) == dict(config):
            autotuner.best_config = c
            return
