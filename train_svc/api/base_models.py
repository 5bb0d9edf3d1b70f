"""The hosted base models on the wire: ListBaseModels' answer, and the check that a request names one of them.

A request names its base by id (TrainingInput.base_model; unset: the default). An id this service does not
host is a bad field among the request's others, in the same InvalidRequest: "base_model" for
CreateTrainingJob (whose input fields are named as in the spec), "input.base_model" for EstimateTrainingJob.
"""

from __future__ import annotations

from shared.api import training_service_pb2 as pb
from shared.request.errors import FieldViolation, InvalidRequest
from shared.request.settings import TrainingSettings
from shared.request.validate import UrlProblem, resolve
from train_svc.models.base_registry import BaseModels


def base_models_response(bases: BaseModels) -> pb.ListBaseModelsResponse:
    """The default base first, then the others in the operator's order."""
    order = [bases.default_id, *(base_id for base_id in bases.ids if base_id != bases.default_id)]
    return pb.ListBaseModelsResponse(
        base_models=[
            pb.BaseModelInfo(id=base_id, ltx_version=bases.get(base_id).version, default=base_id == bases.default_id)
            for base_id in order
        ]
    )


def unknown_base(bases: BaseModels, base_id: str, field: str) -> FieldViolation | None:
    """The violation of a request naming `base_id` ("" = the default) at `field`; None when it is hosted."""
    if not base_id or base_id in bases.ids:
        return None
    return FieldViolation(field, f"no base model {base_id!r} on this service; it hosts {', '.join(bases.ids)}")


def resolve_create_input(message: pb.TrainingInput, bases: BaseModels, url_problem: UrlProblem) -> TrainingSettings:
    """CreateTrainingJob's input resolved (shared.request.validate.resolve) with its base checked: one
    InvalidRequest names every bad field (an id over its length limit is reported as that alone)."""
    violation = unknown_base(bases, message.base_model, "base_model")
    try:
        settings = resolve(message, url_problem=url_problem)
    except InvalidRequest as err:
        more = [violation] if violation and violation.field not in err.fields else []
        raise InvalidRequest([*err.violations, *more], reason=err.reason) from None
    if violation is not None:
        raise InvalidRequest([violation])
    return settings
