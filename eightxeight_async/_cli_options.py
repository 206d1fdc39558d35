"""What the ``eightxeight`` commands share: parameter types, settings and the global options.

The global options (``--json``, ``--base-url``...) are accepted before the command, where they
read the environment too, and after it, where they win over the group's values.
"""

from __future__ import annotations

import asyncio
import math
import os.path
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from . import _cli_errors as errs
from ._cli_errors import CliError
from ._client import AsyncSmsClient
from ._config import ENV_API_KEY, ENV_BASE_URL, ENV_SUBACCOUNT_ID, Region
from ._errors import ValidationError
from ._redis import RateLimiterUnavailableError, RedisRateLimiter

__all__ = [
    "ENV_CA_BUNDLE",
    "ENV_DEBUG",
    "ENV_REDIS_URL",
    "SECONDS",
    "SHARE",
    "TEXT",
    "Finite",
    "Settings",
    "apply",
    "choice",
    "connection_options",
    "current_settings",
    "output_options",
    "run_async",
]

ENV_CA_BUNDLE = "EIGHTXEIGHT_CA_BUNDLE"
ENV_DEBUG = "EIGHTXEIGHT_DEBUG"
#: A Redis URL: the commands then share their rate limits with every process using that Redis.
ENV_REDIS_URL = "EIGHTXEIGHT_REDIS_URL"

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's coroutine to its end (tests replace this to stop before any I/O)."""
    return asyncio.run(coro)


# --- parameter types ---------------------------------------------------------------------------


class _ArgText(click.ParamType):  # type: ignore[type-arg]
    """A string from the command line or the environment that must be valid Unicode.

    On POSIX, Python hands over undecodable argv bytes as lone surrogates; they would break the
    request body far from the option that carried them.
    """

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise CliError(errs.EXIT_VALIDATION, _undecodable(param, ctx)) from None
        return value


def _undecodable(param: click.Parameter | None, ctx: click.Context | None) -> str:
    """The one line that says which option or variable held bytes that are not UTF-8."""
    name = param.name if param is not None else None
    source = ctx.get_parameter_source(name) if ctx is not None and name else None
    envvar = getattr(param, "envvar", None)
    if source is ParameterSource.ENVIRONMENT and isinstance(envvar, str):
        where, fix = f"the environment variable {envvar}", f"set {envvar} again in UTF-8"
    else:
        if isinstance(param, click.Option) and param.opts:
            where = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        else:
            where = param.human_readable_name if param is not None else "an argument"
        fix = "pass it in your terminal's UTF-8 encoding"
    done = "" if ctx is not None and ctx.info_name in _LOCAL_COMMANDS else " Nothing was sent."
    return f"Invalid {where}: holds bytes that are not valid UTF-8; {fix}.{done}"


#: The commands that call no API: "Nothing was sent" means nothing to them.
_LOCAL_COMMANDS = frozenset({"sandbox", "demo"})


TEXT = _ArgText()


class Finite(click.FloatRange):
    """A float in a range that is also finite (click's FloatRange lets ``nan`` through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


SECONDS = Finite(min=0)
SHARE = Finite(min=0, max=1)


class _Choice(click.Choice):  # type: ignore[type-arg]
    """A case-insensitive choice whose help lists the choices as spelled.

    Click 8.2 and later show them lowercased, which disagrees with ``[default: APAC]``.
    """

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:
        return "[" + "|".join(str(c) for c in self.choices) + "]"


def choice(*choices: str) -> click.Choice[str]:
    """A choice that is case-insensitive and comes back spelled as listed."""
    return _Choice(choices, case_sensitive=False)


# --- settings and the options that carry them --------------------------------------------------


class Settings:
    """The settings shared by the commands, from the group's options or the command's own."""

    def __init__(self) -> None:
        self.api_key: str | None = None
        self.subaccount_id: str | None = None
        self.base_url: str | None = None
        self.region: str = "APAC"
        self.ca_bundle: str | None = None
        #: Fleet-wide limits through this Redis (``--redis-url``); in-process when None.
        self.redis_url: str | None = None
        self.as_json = False
        self.debug = False
        #: The command being run and the UMID it concerns, for the hints of an error.
        self.command: str | None = None
        self.umid: str | None = None
        # Which settings came from the environment, to name the variable in messages.
        self.from_env: set[str] = set()

    @property
    def effective_url(self) -> str:
        """The base URL the client will call."""
        return self.base_url or Region(self.region).base_url

    def describe_url(self) -> str:
        """The base URL and where it came from, for messages (without any user:password@)."""
        url = errs.without_userinfo(self.effective_url)
        if self.base_url is None:
            return f"{url} (--region {self.region})"
        source = ENV_BASE_URL if "base_url" in self.from_env else "--base-url"
        return f"{url} (from {source})"

    def client(self) -> AsyncSmsClient:
        """Build the client these settings describe, after the checks only the CLI can make.

        Raises:
            CliError: When the key or subaccount is missing, or the CA bundle file is absent.
            ValidationError: When the SDK refuses a setting.
        """
        if self.api_key == "":
            raise CliError(
                errs.EXIT_VALIDATION,
                f"Invalid {self._source('api_key')}: it is empty. Nothing was sent.",
                hint="Pass the key itself, or leave it out to read it from the environment.",
            )
        if self.api_key is None:
            raise CliError(
                errs.EXIT_VALIDATION,
                f"No API key: pass --api-key or set {ENV_API_KEY}. Nothing was sent.",
                hint="`eightxeight sandbox` prints a key (and the other settings) to try with.",
            )
        if self.subaccount_id == "":
            raise CliError(
                errs.EXIT_VALIDATION,
                f"Invalid {self._source('subaccount_id')}: it is empty. Nothing was sent.",
            )
        if self.subaccount_id is None:
            raise CliError(
                errs.EXIT_VALIDATION,
                f"No subaccount: pass --subaccount-id or set {ENV_SUBACCOUNT_ID}. "
                "Nothing was sent.",
            )
        if self.base_url is not None and not self.base_url.strip():
            # An empty value must not quietly mean "the region's host": that is 8x8 itself.
            raise CliError(
                errs.EXIT_VALIDATION,
                f"Invalid {self._source('base_url')}: it is empty. Nothing was sent.",
                hint=(
                    f"Give the URL (e.g. the sandbox's), or unset {ENV_BASE_URL} and leave "
                    "--base-url out to use the --region's host."
                ),
            )
        verify: str | bool = True
        if self.ca_bundle:
            verify = self._check_ca_bundle(self.ca_bundle)
        limiter = self._redis_limiter() if self.redis_url is not None else None
        client = AsyncSmsClient(
            api_key=self.api_key,
            subaccount_id=self.subaccount_id,
            base_url=self.base_url,
            region=self.region,
            verify=verify,
            rate_limiter=limiter,
        )
        if limiter is not None:
            # Made here for this client alone: closing the client closes it (and its pool).
            client._core.owns_limiter = True
        return client

    def _redis_limiter(self) -> RedisRateLimiter:
        """The limiter of ``--redis-url``, its URL checked before any I/O.

        Raises:
            CliError: When the URL is empty or not a Redis URL (exit 3), or the extra is missing
                (exit 2).
        """
        source = ENV_REDIS_URL if "redis_url" in self.from_env else "--redis-url"
        url = self.redis_url or ""
        if not url.strip():
            raise CliError(
                errs.EXIT_VALIDATION,
                f"Invalid {source}: it is empty. Nothing was sent.",
                hint="Give a redis:// or rediss:// URL, or leave it out to limit in this process.",
            )
        try:
            limiter = _CliRedisLimiter.from_url(url)
        except ValidationError as exc:
            hint = (
                "A cluster is reached by one of its nodes: redis://[:PASSWORD@]HOST:PORT?cluster=true."
                if exc.rule.startswith("a cluster URL")
                else "The password, if any, goes in the URL: redis://:PASSWORD@host:6379/0."
            )
            raise CliError(
                errs.EXIT_VALIDATION,
                f"Invalid {source}: must be {exc.rule}. Nothing was sent.",
                hint=hint,
            ) from None
        except ImportError:
            raise CliError(
                errs.EXIT_USAGE,
                f"{source} needs the redis package: pip install 'eightxeight-async[redis]'.",
            ) from None
        limiter._source = source
        return limiter

    def _source(self, name: str) -> str:
        """The option or variable a setting came from."""
        return errs.option_name(name, self)

    def _check_ca_bundle(self, path: str) -> str:
        if os.path.isfile(path):
            return path
        what = "does not exist" if not os.path.exists(path) else "is not a file"
        if "ca_bundle" in self.from_env:
            message = f"{ENV_CA_BUNDLE} names {path}, which {what}. Nothing was sent."
            hint = (
                f"Unset {ENV_CA_BUNDLE} (it may be left from a sandbox that has stopped), or set "
                "it to the CA file `eightxeight sandbox` prints."
            )
        else:
            message = f"Invalid --ca-bundle: {path} {what}. Nothing was sent."
            hint = "Pass the CA file `eightxeight sandbox` prints; leave --ca-bundle out for 8x8."
        raise CliError(errs.EXIT_VALIDATION, message, hint=hint)


class _CliRedisLimiter(RedisRateLimiter):
    """The CLI's Redis limiter: Redis must answer once before the command sends anything.

    A Redis that cannot be reached at the start is a mistake to report (naming the option or
    variable), not a reason to go on alone; once it has answered, a failure mid-run falls back
    to in-process limits with one warning, as in the SDK.
    """

    _source = "--redis-url"
    _contacted = False

    def _answered(self, generation: int) -> None:
        self._contacted = True
        super()._answered(generation)

    def _failed(self, exc: BaseException, generation: int) -> None:
        if not self._contacted:
            raise self._unavailable(exc)  # no fallback, so no warning of one
        super()._failed(exc, generation)

    def _unavailable(self, exc: BaseException | None) -> RateLimiterUnavailableError:
        reason = self._reason(exc).rstrip(".")
        if _refused_credentials(exc):
            # A wrong password is the URL's mistake, not an outage: exit 3, not 5.
            message = (
                f"Redis refused the credentials of {self._source} ({self._where}): {reason}. "
                f"Nothing was sent. Fix the user or password in {self._source} "
                "(redis://:PASSWORD@HOST:PORT/DB)."
            )
            return _RedisConfigurationError(message, url=self._where)
        tls = (
            " If that port serves plain Redis, use redis://: a TLS mismatch fails this way."
            if self._where.startswith("rediss://")
            else ""
        )
        message = (
            f"Cannot use the Redis of {self._source} ({self._where}): {reason}. "
            f"Nothing was sent. Start Redis or fix {self._source}, or leave it out to limit in "
            f"this process only.{tls}"
        )
        return RateLimiterUnavailableError(message, url=self._where)


class _RedisConfigurationError(RateLimiterUnavailableError):
    """Redis answered but refused the URL's credentials: a setting to fix (exit 3)."""

    configuration = True


#: What Redis answers to a wrong or missing password (``AUTH``, ``HELLO``, a command).
_AUTH_REFUSALS = ("WRONGPASS", "NOAUTH", "invalid password", "invalid username-password")


def _refused_credentials(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if any(cls.__name__ == "AuthenticationError" for cls in type(exc).__mro__):
        return True
    text = str(exc)
    return any(word.lower() in text.lower() for word in _AUTH_REFUSALS)


#: The settings of the command being run, for the top-level error handler.
session: Settings | None = None


def current_settings() -> Settings:
    """The settings of the command being run (which they then name in error hints)."""
    ctx = click.get_current_context()
    settings = ctx.find_object(Settings)
    assert settings is not None  # the group's callback creates it before any command runs
    settings.command = ctx.info_name
    given = ctx.meta.pop(_GROUP_REDIS_URL, None)
    if given is not None and settings.redis_url is None:
        # --redis-url before the command (or its variable); one after it has won already.
        settings.redis_url, from_env = given
        if from_env:
            settings.from_env.add("redis_url")
    return settings


#: Where the group's --redis-url waits for the command's settings (the group takes no argument
#: for it, so that the group's callback stays as it is).
_GROUP_REDIS_URL = "eightxeight.redis_url"


def _group_redis_url(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is None or param.name is None:
        return
    source = ctx.get_parameter_source(param.name)
    ctx.meta[_GROUP_REDIS_URL] = (value, source is ParameterSource.ENVIRONMENT)


def _override(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Apply a global option given after the command name (it wins over the group's)."""
    if value is None or value is False or param.name is None:
        return
    settings = ctx.find_object(Settings)
    if settings is not None:
        setattr(settings, param.name, value)
        settings.from_env.discard(param.name)


_HELP = {
    "api_key": f"8x8 API key [env {ENV_API_KEY}].",
    "subaccount_id": f"Subaccount [env {ENV_SUBACCOUNT_ID}].",
    "base_url": f"API host instead of the region's, e.g. the sandbox's [env {ENV_BASE_URL}].",
    "region": "Region of the account (ignored with --base-url)  [default: APAC]",
    "ca_bundle": f"CA bundle to trust, e.g. the sandbox's [env {ENV_CA_BUNDLE}].",
    "redis_url": (
        "Share the rate limits with every process on this Redis: redis://[:PASSWORD@]HOST[:PORT]"
        f"[/DB], rediss://... (TLS), ?cluster=true for a cluster [env {ENV_REDIS_URL}]."
    ),
    "as_json": "Print JSON for scripts (one document on stdout, errors included).",
    "debug": f"Show the traceback of an internal error [env {ENV_DEBUG}].",
}


def output_options(*, at_group: bool) -> list[Callable[[_F], _F]]:
    extra: dict[str, Any] = {} if at_group else {"expose_value": False, "callback": _override}
    return [
        click.option("--json", "as_json", is_flag=True, help=_HELP["as_json"], **extra),
        click.option(
            "--debug",
            "debug",
            is_flag=True,
            help=_HELP["debug"],
            **({"envvar": ENV_DEBUG} if at_group else extra),
        ),
    ]


def connection_options(*, at_group: bool) -> list[Callable[[_F], _F]]:
    def env(name: str) -> dict[str, Any]:
        return {"envvar": name} if at_group else {"expose_value": False, "callback": _override}

    return [
        click.option("--api-key", "api_key", type=TEXT, help=_HELP["api_key"], **env(ENV_API_KEY)),
        click.option(
            "--subaccount-id",
            "subaccount_id",
            type=TEXT,
            help=_HELP["subaccount_id"],
            **env(ENV_SUBACCOUNT_ID),
        ),
        click.option(
            "--base-url", "base_url", type=TEXT, help=_HELP["base_url"], **env(ENV_BASE_URL)
        ),
        click.option(
            "--region",
            "region",
            type=choice("APAC", "NA", "EU", "ID"),
            default="APAC" if at_group else None,
            help=_HELP["region"],
            **({} if at_group else env("")),
        ),
        click.option(
            "--ca-bundle", "ca_bundle", type=TEXT, help=_HELP["ca_bundle"], **env(ENV_CA_BUNDLE)
        ),
        click.option(
            "--redis-url",
            "redis_url",
            type=TEXT,
            help=_HELP["redis_url"],
            **(
                {"envvar": ENV_REDIS_URL, "expose_value": False, "callback": _group_redis_url}
                if at_group
                else env("")
            ),
        ),
        *output_options(at_group=at_group),
    ]


def apply(decorators: list[Callable[[_F], _F]]) -> Callable[[_F], _F]:
    def decorate(function: _F) -> _F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate
