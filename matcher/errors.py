"""Domain errors; the API maps each to one HTTP status, nothing below api/ knows about HTTP."""


class DomainError(Exception):
    pass


class NotFound(DomainError):
    def __init__(self, kind: str, entity_id: str) -> None:
        super().__init__(f"{kind} {entity_id!r} not found")
        self.kind, self.entity_id = kind, entity_id


class NotAllowed(DomainError):
    pass


class Conflict(DomainError):
    """A write based on a stale version, or one the entity's state does not allow."""


class RetryLater(DomainError):
    """The request is fine but this replica cannot serve it now; the same request can succeed a moment later."""


class NotCaughtUp(RetryLater):
    """A command must read this replica's previous write to the entity first, and the read model has not
    applied it in time (the indexer lags or is down)."""


class SolverBusy(RetryLater):
    """Every solver slot of this replica stayed taken for as long as a request may wait for one."""


class InvalidRequest(DomainError):
    """A request that is well-formed but asks for something impossible; the message names the field."""
