"""The mint endpoint as a team would write it by hand, the baseline of ``http_vs_fastapi``.

FastAPI + pydantic for the body, SQLAlchemy's ORM on one pooled engine for the API key
and the ticket, ``limits`` for the per-team rate limit, and one boto3 client presigning
the PUT: each piece used the way its documentation shows. The endpoint is a plain
``def``, so FastAPI runs it on its thread pool, as its SQL tutorial does with a sync
session. Configured from the environment (``UT_BENCH_DATABASE_URL``, ``UT_BENCH_BUCKET``,
``UT_BENCH_S3_ENDPOINT``); the table is made at import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from typing import Annotated, Literal

import boto3
import limits
import sqlalchemy as sa
from botocore.config import Config
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from ulid import ULID

DATABASE_URL = os.environ.get("UT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BUCKET = os.environ.get("UT_BENCH_BUCKET", "bench")
ENDPOINT = os.environ.get("UT_BENCH_S3_ENDPOINT", "http://127.0.0.1:9000")
TYPES = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class Base(DeclarativeBase):
    """The hand-written app's tables."""


class ApiKey(Base):
    """One API key, by its SHA-256."""

    __tablename__ = "bench_fastapi_keys"
    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    team: Mapped[str] = mapped_column(sa.String(64))


class Upload(Base):
    """One minted upload."""

    __tablename__ = "bench_fastapi_uploads"
    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    team: Mapped[str] = mapped_column(sa.String(64), index=True)
    filename: Mapped[str] = mapped_column(sa.String(120))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16), default="minted")
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


class InitBody(BaseModel):
    """The spec's request body."""

    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=120)
    extension: Literal["jpeg", "jpg", "png", "webp"]
    content_type: Literal["image/jpeg", "image/png", "image/webp"]

    @model_validator(mode="after")
    def _matching(self) -> InitBody:
        if TYPES[self.extension] != self.content_type:
            raise ValueError("extension and content_type disagree")
        return self


# Room for every thread FastAPI runs the endpoint on at the benchmark's 16 connections: no connection churn.
engine = sa.create_engine(DATABASE_URL, pool_size=20, max_overflow=10)
Base.metadata.create_all(engine)
s3 = boto3.client(
    "s3",
    region_name="us-east-1",
    endpoint_url=ENDPOINT,
    aws_access_key_id="bench",
    aws_secret_access_key="bench-secret",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
)
limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())
rate = limits.parse("1000000000/minute")
app = FastAPI()


def session() -> object:
    """One ORM session per request."""
    with Session(engine) as opened:
        yield opened


def add_key(key: str, team: str) -> None:
    """Store ``key`` for ``team`` (the benchmark's setup)."""
    with Session(engine) as opened, opened.begin():
        opened.merge(ApiKey(key_hash=hashlib.sha256(key.encode()).hexdigest(), team=team))


@app.post("/v1/characters/uploads/init", status_code=201)
def init_upload(
    body: InitBody, db: Annotated[Session, Depends(session)], x_api_key: Annotated[str, Header()]
) -> dict[str, object]:
    """Mint one upload: key, rate limit, row, presigned PUT."""
    found = db.get(ApiKey, hashlib.sha256(x_api_key.encode()).hexdigest())
    if found is None:
        raise HTTPException(status_code=401, detail="unknown API key")
    if not limiter.hit(rate, found.team, "characters_post"):
        raise HTTPException(status_code=429, detail="rate limited")
    now = dt.datetime.now(dt.UTC)
    upload = Upload(
        id=f"upl_{ULID()}",
        team=found.team,
        filename=body.filename,
        content_type=body.content_type,
        created_at=now,
        expires_at=now + dt.timedelta(hours=24),
    )
    db.add(upload)
    db.commit()
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": BUCKET, "Key": f"uploads/{upload.id}", "ContentType": body.content_type},
        ExpiresIn=900,
    )
    return {
        "upload_id": upload.id,
        "upload_url": url,
        "upload_headers": {"Content-Type": body.content_type},
        "expires_at": (now + dt.timedelta(seconds=900)).isoformat(),
    }
