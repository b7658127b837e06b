"""One case of a sweep: the scenario, the strategy, the objective and the tariff variant, and
a stable id (a hash of exactly these parameters) by which the store knows it is finished."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("synthetic", "citylearn", "csv")


@dataclass(frozen=True)
class Case:
    """Everything a worker needs to rebuild the run, in plain values (it travels by pickle).

    ``path`` is the dataset folder as resolved on the machine that reads the sweep file
    (absolute); ``members`` None keeps the scenario's own; ``objective`` None is the
    scenario's; ``tariff`` holds only the components the variant overrides."""

    kind: str
    strategy: str
    path: str | None = None
    members: int | None = None
    seed: int = 0
    days: int | None = None
    objective: str | None = None
    tariff_name: str = "default"
    tariff: dict[str, Any] = field(default_factory=dict)
    community_storage: bool | None = None
    flexible_share: float | None = None

    @property
    def scenario_spec(self) -> str:
        """The ``--scenario`` argument of ``simulate`` for this case."""
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def params(self) -> dict[str, Any]:
        """The parameters as the table's columns (the tariff's components flattened)."""
        p = asdict(self)
        tariff = p.pop("tariff")
        p["tariff"] = p.pop("tariff_name")
        p.update({f"tariff_{k}": v for k, v in sorted(tariff.items())})
        return p

    @property
    def id(self) -> str:
        """12 hex digits of SHA-256 over the canonical JSON of every parameter: the same case
        in a re-run (whatever its place in the file) has the same id."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """A short human name: ``synthetic m10 s0 / weighted / cost / default``."""
        where = self.kind if self.path is None else f"{self.kind}:{self.path.rsplit('/', 1)[-1]}"
        size = "" if self.members is None else f" m{self.members}"
        seed = f" s{self.seed}" if self.kind == "synthetic" else ""
        return f"{where}{size}{seed} / {self.strategy} / {self.objective or 'default'} / {self.tariff_name}"
