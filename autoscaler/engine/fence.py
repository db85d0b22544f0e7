"""Whether the engine may act: always for a lone daemon; for a replica, only while it leads.

A replica that does not lead (a standby) keeps its caches warm: demand is read and resolved,
read-only queries are answered, a reload is applied; everything that acts is left alone: no plan,
no launch, no retirement, no take-offline, no stray or lingering node removed, no agent adopted
(its state holds no agent). It asks ``leading()`` at every message it handles and before every
plan, so a leader whose lease could not be renewed in time stops at once (fencing: ``leading()``
turns false at the renew deadline, before the lease can expire and another replica take over).

On becoming the leader, the engine starts afresh as a restarted daemon does: it forgets what it
knew of agents, lists the driver and adopts every agent of this daemon's identity, and plans only
once that listing is in (so it launches nothing the former leader had already launched).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from autoscaler.engine import views
from autoscaler.engine.cleanup import Strays
from autoscaler.engine.errors import CommandError
from autoscaler.engine.messages import (
    Command,
    ComputersSeen,
    DemandUpdate,
    DriverSeen,
    Message,
    OfflineTaken,
    Reconcile,
    Reload,
    Stop,
)
from autoscaler.events import DemandRefresh

if TYPE_CHECKING:
    from autoscaler.engine.core import Engine

log = logging.getLogger(__name__)


class NotLeader(CommandError):
    """A change asked of a replica that stands by (the API answers it as a refused command)."""


class Fence:
    def __init__(self, leading: Callable[[], bool] | None = None) -> None:
        self.leading: Callable[[], bool] = leading or (lambda: True)
        """True while this replica may act (a lone daemon always may)."""
        self.acting = self.leading()
        """What ``leading()`` said at the last message: a change is acted on once."""
        self.adopting = False
        """Leading, but the driver's listing since taking over is not in yet: plan nothing."""

    def may_act(self) -> bool:
        return not self.adopting and self.leading()

    def admit(self, engine: Engine, message: Message) -> bool:
        """Whether ``engine`` handles ``message`` as usual; a standby's share is handled here."""
        leading = self.leading()
        if leading != self.acting:
            self.acting = leading
            if leading:
                self._take_over(engine)
            else:
                log.warning("standby: this replica no longer leads; it stops acting")
        if leading and self.adopting and isinstance(message, ComputersSeen):
            engine.io.computers_read(message.controller)  # no agent known yet: no node looks lingering
            return False
        if leading:
            if isinstance(message, DriverSeen) and message.handles is not None:
                self.adopting = False  # this listing adopts every agent; plans may follow
                for name in engine.controllers:  # and a look at Jenkins dropped while adopting is taken again
                    engine.io.refresh(name)
            return True
        self._stand_by(engine, message)
        return False

    def _take_over(self, engine: Engine) -> None:
        log.warning("leader: this replica leads now; adopting the running agents before it plans")
        state = engine.state
        state.agents.clear()
        state.in_flight = {k for k in state.in_flight if not k.startswith("offline:")}
        state.ready = False
        state.seen.clear()
        engine._strays = Strays()  # the first listing adopts everything, as at a restart
        self.adopting = True
        engine._on_reconcile(Reconcile())

    def _stand_by(self, engine: Engine, message: Message) -> None:
        """What a standby does with a message: keep demand, answer reads, act on nothing."""
        match message:
            case DemandUpdate():
                engine._on_demand(message)
            case DemandRefresh():
                engine._on_demand_refresh(message)
            case Command() if message.op in views.QUERIES:
                engine._on_command(message)
            case Command():
                message.reply.set_exception(NotLeader(f"standby: this replica does not lead; {message.op} refused"))
            case Reload():
                engine._on_reload(message)
            case Stop():
                engine._on_stop(message)
            case ComputersSeen():
                engine.io.computers_read(message.controller)
            case DriverSeen():
                engine.state.in_flight.discard("driver")
            case OfflineTaken():
                engine._on_offline_taken(message)
            case _:
                pass  # events about agents, results of a former leadership's I/O, timers
