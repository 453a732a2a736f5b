"""The load generator's mixes: which order types, times in force and forced outcomes it sends.

Pure, in the loadgen process (and tools/arguments.py while options are parsed).
Each mix is NAME=WEIGHT,... (a name without a weight weighs 1, a name left out
is never drawn), and the three are drawn independently for each intent:

    --mix         market, limit, stop, stop_limit        the order type
    --tif-mix     none, ioc, fok, day, gtc               metadata.time_in_force (none: no key,
                                                         the simulator's default)
    --force-mix   none, full, partial, reject            metadata.exec_sim_force (none: no key)

The service would reject a forced partial on a FOK order (invalid_directive), so
a FOK intent draws its forced outcome from the force mix without partial (none
when partial is all the mix holds): every intent the generator calls valid is one
the service accepts.
"""

from __future__ import annotations

from tools import sample_intents as si
from worker.directives import FORCED_OUTCOMES, TIMES_IN_FORCE

NONE = "none"
TIF_NAMES = (NONE,) + tuple(t.lower() for t in TIMES_IN_FORCE)
FORCE_NAMES = (NONE,) + FORCED_OUTCOMES

DEFAULT_ORDER_MIX = "market=4,limit=3,stop=2,stop_limit=1"
DEFAULT_TIF_MIX = "none=1"
DEFAULT_FORCE_MIX = "none=1"

MIX_HELP = """\
mixes are NAME=WEIGHT,... (a name without =WEIGHT weighs 1; a name left out is not sent),
drawn independently for each intent:
  --mix        order types: market, limit, stop, stop_limit
  --tif-mix    metadata.time_in_force: none (no key: the simulator's default), ioc, fok, day, gtc
  --force-mix  metadata.exec_sim_force outcomes: none (no key), full, partial, reject
               (honoured when the service runs with SIMULATION_FORCED_OUTCOMES=on, its default)
  e.g. --mix market=4,limit=3,stop=2,stop_limit=1 --tif-mix none=5,ioc,fok,day,gtc --force-mix none=8,full,partial,reject"""


def parse_weights(text: str, known: tuple[str, ...], what: str) -> dict[str, float]:
    """'a=4,b' -> {'a': 4.0, 'b': 1.0}; names must be known (any case), weights finite and >= 0,
    at least one positive."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, weight = part.partition("=")
        name = name.strip().lower()
        if name not in known:
            raise ValueError(f"unknown {what} {name!r} (known: {', '.join(known)})")
        if name in weights:
            raise ValueError(f"{what} {name!r} given twice")
        try:
            value = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"{part!r}: the weight must be a number") from None
        if not 0 <= value < float("inf"):
            raise ValueError(f"{part!r}: the weight must be a finite number, 0 or more")
        weights[name] = value
    if not weights or sum(weights.values()) <= 0:
        raise ValueError(f"the {what} mix needs at least one {what} with a positive weight")
    return weights


def parse_mix(text: str) -> dict[str, float]:
    """The order-type mix ('market=4,limit=3')."""
    return parse_weights(text, si.ORDER_TYPES, "order type")


def parse_tif_mix(text: str) -> dict[str, float]:
    """The time-in-force mix ('none=5,ioc,fok,day,gtc')."""
    return parse_weights(text, TIF_NAMES, "time in force")


def parse_force_mix(text: str) -> dict[str, float]:
    """The forced-outcome mix ('none=8,full,partial,reject')."""
    return parse_weights(text, FORCE_NAMES, "forced outcome")


def without_partial(force_mix: dict[str, float]) -> dict[str, float]:
    """The force mix a FOK intent draws from: a forced partial contradicts fill-or-kill."""
    rest = {name: w for name, w in force_mix.items() if name != "partial" and w > 0}
    return rest or {NONE: 1.0}
