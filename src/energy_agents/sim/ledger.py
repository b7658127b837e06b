"""The community token (CT) ledger: per-member balances, a community account, a grid account.

Every settlement is a double-entry transfer, so it leaves the total unchanged; only ``mint``
and ``burn`` change the supply. The invariant checked after each step:
``sum(members) + community + grid == supply == minted - burned``. Balances may go negative
(members settle what they owe later; the model does not stop anyone from consuming).
"""

from __future__ import annotations

import numpy as np

from .sums import sum_of


class TokenLedger:
    def __init__(self, n_members: int) -> None:
        self.members = np.zeros(n_members)
        self.community = 0.0
        self.grid = 0.0
        self.minted = 0.0
        self.burned = 0.0

    @property
    def supply(self) -> float:
        return self.minted - self.burned

    def mint(self, amounts: np.ndarray) -> float:
        total = sum_of(amounts)
        self.members += amounts
        self.minted += total
        return total

    def burn(self, amounts: np.ndarray) -> float:
        total = sum_of(amounts)
        self.members -= amounts
        self.burned += total
        return total

    def members_pay_community(self, amounts: np.ndarray) -> None:
        """Positive entries: member pays the community account; negative: is paid by it."""
        self.members -= amounts
        self.community += sum_of(amounts)

    def members_trade(self, paid: np.ndarray, received: np.ndarray) -> None:
        """P2P settlement: buyers pay ``paid``, sellers receive ``received`` (equal sums)."""
        self.members += received - paid

    def community_pays_grid(self, amount: float) -> None:
        self.community -= amount
        self.grid += amount

    def settled(self, minted: float, burned: float, paid_to_community: float) -> None:
        """The totals of member entries already applied to ``members`` elsewhere (the compiled
        step, ``sim.kernel.members_settle``): minting, burning and paying the community."""
        self.minted += minted
        self.burned += burned
        self.community += paid_to_community

    def conservation_error(self, members_total: float | None = None) -> float:
        """|members + community + grid - supply| (``members_total``: the members' sum if the
        caller has it)."""
        total = sum_of(self.members) if members_total is None else members_total
        return abs(total + self.community + self.grid - self.supply)
