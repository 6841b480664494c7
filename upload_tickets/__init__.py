"""upload-tickets: direct uploads through short-lived signed URLs.

Mint a signed PUT URL for one image, let the client upload straight to storage,
optionally classify the bytes, then consume 1-6 uploads atomically to create a resource.
"""

from upload_tickets._errors import (
    AlreadyConsumed,
    BackendNotInstalled,
    Conflict,
    IdempotencyConflict,
    InvalidRequest,
    InvalidTransition,
    MethodNotAllowed,
    NotFound,
    NotSupported,
    NotUploaded,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    SignatureInvalid,
    StoreUnavailable,
    TicketExpired,
    Unauthenticated,
    UnprocessableImage,
    UnsupportedMediaType,
    UploadTicketsError,
    UploadUrlExpired,
)
from upload_tickets._io import read_capped
from upload_tickets._lifecycle import Event
from upload_tickets._models import (
    BlobInfo,
    Character,
    Classification,
    MintRequest,
    MintResult,
    RateDecision,
    SignedUpload,
    State,
    SweepReport,
    Team,
    UploadAdmission,
    UploadTicket,
    VerifiedPut,
)
from upload_tickets._policy import CHARACTERS_POST, RatePolicy, TTLPolicy
from upload_tickets._ratelimit import decision_after_charge, gcra
from upload_tickets._rules import DEFAULT_API_VERSION, content_disposition, parse_mint_request
from upload_tickets.classify import ImageClassifier, UnknownPose
from upload_tickets.clock import ManualClock, SystemClock
from upload_tickets.files import FileBlobStore
from upload_tickets.memory import MemoryBlobStore, MemoryRateLimiter, MemoryTeamDirectory, MemoryTicketStore
from upload_tickets.registry import Backend, backend_from_url, store_from_url
from upload_tickets.service import UploadTickets
from upload_tickets.signing import Ed25519Signer, HmacSigner

__all__ = [
    "CHARACTERS_POST",
    "DEFAULT_API_VERSION",
    "AlreadyConsumed",
    "Backend",
    "BackendNotInstalled",
    "BlobInfo",
    "Character",
    "Classification",
    "Conflict",
    "Ed25519Signer",
    "Event",
    "FileBlobStore",
    "HmacSigner",
    "IdempotencyConflict",
    "ImageClassifier",
    "InvalidRequest",
    "InvalidTransition",
    "ManualClock",
    "MethodNotAllowed",
    "MemoryBlobStore",
    "MemoryRateLimiter",
    "MemoryTeamDirectory",
    "MemoryTicketStore",
    "MintRequest",
    "MintResult",
    "NotFound",
    "NotSupported",
    "NotUploaded",
    "PayloadTooLarge",
    "RateDecision",
    "RateLimited",
    "RatePolicy",
    "RequestTimeout",
    "SignatureInvalid",
    "SignedUpload",
    "State",
    "StoreUnavailable",
    "SweepReport",
    "SystemClock",
    "TTLPolicy",
    "Team",
    "TicketExpired",
    "Unauthenticated",
    "UnknownPose",
    "UnprocessableImage",
    "UnsupportedMediaType",
    "UploadAdmission",
    "UploadTicket",
    "UploadTicketsError",
    "UploadTickets",
    "UploadUrlExpired",
    "VerifiedPut",
    "backend_from_url",
    "content_disposition",
    "decision_after_charge",
    "gcra",
    "parse_mint_request",
    "read_capped",
    "store_from_url",
]
