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


class NotCaughtUp(DomainError):
    """A command must read this replica's previous write to the entity first, and the read model has not
    applied it in time (the indexer lags or is down)."""


class InvalidRequest(DomainError):
    """A request that is well-formed but asks for something impossible; the message names the field."""
