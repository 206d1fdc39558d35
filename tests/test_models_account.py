"""Account operations: the price list in both of 8x8's shapes, the balance, webhook requests and
answers (secrets never in a repr), the price query, and the account id rule."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eightxeight_async._converters import encode_query, encode_request, structure_response
from eightxeight_async._errors import ResponseValidationError, ValidationError
from eightxeight_async._models_account import (
    Amount,
    Balance,
    CountryPrices,
    CredentialsLocation,
    Hni,
    InboundNumberType,
    OperatorPrice,
    PriceDirection,
    PriceList,
    PriceQuery,
    Webhook,
    WebhookDelete,
    WebhookOAuth,
    WebhookRequest,
)
from eightxeight_async._validators import (
    ACCOUNT_ID_PATTERN,
    check_account_id,
    check_webhook_scope,
)

from .models_wire_check import SPEC, check, operation, request_schema, wire, wire_array

PRICES = "/api/v1/accounts/{accountId}/prices"
WEBHOOKS = "/api/v1/accounts/{accountId}/webhooks"
SECRET = "Bearer 9QQhlsEb8VY-secret"
CLIENT_SECRET = "my-client-secret-value"


def price_examples() -> dict[str, dict[str, Any]]:
    """The price list examples of the OpenAPI file (JSON text under odd media-type keys)."""
    content = operation("get", PRICES)["responses"]["200"]["content"]
    return {
        name: json.loads(media["example"])
        for name, media in content.items()
        if name != "application/json"
    }


# --- prices ------------------------------------------------------------------------------------


def test_every_openapi_price_example_parses() -> None:
    examples = price_examples()
    assert set(examples) == {"Single-SubAccount", "Multiple-SubAccounts", "Inbound-Only"}
    single = structure_response(examples["Single-SubAccount"], PriceList)
    (sub,) = single.subaccounts
    assert sub.subaccount_id == "example"
    singtel = sub.outbound[0].operators[0]
    assert singtel == OperatorPrice(
        operator_name="SingTel",
        operator_id=525001,
        hni=(Hni(mcc="525", mnc="01"), Hni(mcc="525", mnc="02"), Hni(mcc="525", mnc="07")),
        price=Amount(amount=Decimal("0.0099171"), currency="SGD"),
    )
    inbound = sub.inbound[0].number_types
    # 8x8's example writes "tollFree" for its enum value "tollfree".
    assert [n.type for n in inbound] == [
        InboundNumberType.TOLLFREE,
        InboundNumberType.SHORT_CODE_P2P,
    ]
    assert inbound[1].default_price == Amount(amount=Decimal("0.123"), currency="SGD")
    multiple = structure_response(examples["Multiple-SubAccounts"], PriceList)
    assert [s.subaccount_id for s in multiple.subaccounts] == ["example", "example2"]
    assert [c.alpha2_code for c in multiple.subaccounts[1].outbound] == ["SG", "US"]
    assert multiple.subaccounts[1].inbound[0].number_types[1].default_price == Amount(
        amount=Decimal("0.1230000"), currency="SGD"
    )
    inbound_only = structure_response(examples["Inbound-Only"], PriceList)
    assert inbound_only.subaccounts[0].outbound == ()


def as_schema_shape(example: dict[str, Any]) -> dict[str, Any]:
    """The same price list in the shape of 8x8's schema: arrays of ``{"countries": [...]}``."""
    subs = []
    for sub in example["subAccounts"]:
        sub = dict(sub)
        for key in ("outbound", "inbound"):
            if key in sub:
                sub[key] = [sub[key]]
        subs.append(sub)
    return {"subAccounts": subs}


@pytest.mark.parametrize("name", ["Single-SubAccount", "Multiple-SubAccounts", "Inbound-Only"])
def test_the_schema_shape_parses_the_same(name: str) -> None:
    example = price_examples()[name]
    assert structure_response(as_schema_shape(example), PriceList) == structure_response(
        example, PriceList
    )


def test_other_price_shapes() -> None:
    sg = {"alpha2Code": "SG", "operators": [{"hni": [{"mcc": 525, "mnc": "05"}]}]}
    bare = {"subAccounts": [{"subAccountId": "a", "outbound": [sg], "inbound": None}]}
    parsed = structure_response(bare, PriceList)
    assert parsed.subaccounts[0].outbound == (
        CountryPrices(
            alpha2_code="SG", operators=(OperatorPrice(hni=(Hni(mcc="525", mnc="05"),)),)
        ),
    )
    assert structure_response({}, PriceList) == PriceList()
    assert structure_response({"subAccounts": None}, PriceList) == PriceList()
    nulls = {"alpha2Code": "SG", "operators": [{"hni": None}], "numberTypes": None}
    (sub,) = structure_response(
        {"subAccounts": [{"subAccountId": "a", "outbound": [nulls], "inbound": [nulls]}]},
        PriceList,
    ).subaccounts
    assert sub.outbound[0].operators == (OperatorPrice(),)
    assert sub.inbound[0].number_types == ()
    country = {"alpha2Code": "SG", "numberTypes": [{"type": "virtualMobile"}]}
    unknown = {"subAccounts": [{"subAccountId": "a", "inbound": {"countries": [country]}}]}
    (sub,) = structure_response(unknown, PriceList).subaccounts
    assert sub.inbound[0].number_types[0].type == "virtualMobile"


@pytest.mark.parametrize(
    "body",
    [
        {"subAccounts": [{"subAccountId": "a", "outbound": "SG"}]},
        {"subAccounts": [{"subAccountId": "a", "outbound": {"countries": {"alpha2Code": "SG"}}}]},
        {"subAccounts": [{"subAccountId": "a", "outbound": [{"countryName": "x"}]}]},
        {"subAccounts": [{"outbound": []}]},
        {"subAccounts": "all"},
        {
            "subAccounts": [
                {"subAccountId": "a", "outbound": [{"alpha2Code": "SG", "operators": "x"}]}
            ]
        },
        {
            "subAccounts": [
                {
                    "subAccountId": "a",
                    "outbound": [
                        {
                            "alpha2Code": "SG",
                            "operators": [{"price": {"amount": "NaN", "currency": "SGD"}}],
                        }
                    ],
                }
            ]
        },
    ],
)
def test_price_lists_of_the_wrong_shape_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ResponseValidationError) as info:
        structure_response(body, PriceList)
    assert info.value.path.startswith("$.sub")


# --- balance -----------------------------------------------------------------------------------


def test_openapi_balance_example_parses_exactly() -> None:
    media = operation("get", "/api/v1/accounts/{accountId}/balance")["responses"]["200"]
    balance = structure_response(media["content"]["application/json"]["example"], Balance)
    assert balance == Balance(balance=Decimal("149309.7985931"), currency="USD")


# --- webhooks: answers -------------------------------------------------------------------------


def webhook_list_example() -> list[dict[str, Any]]:
    media = operation("get", WEBHOOKS)["responses"]["200"]["content"]["application/json"]
    value: list[dict[str, Any]] = media["examples"]["response"]["value"]
    return value


def test_every_openapi_webhook_example_parses() -> None:
    hooks = [structure_response(item, Webhook) for item in webhook_list_example()]
    assert [h.subaccount_id for h in hooks] == ["Onion_Marketing", "Onion_Marketing", "*", "*"]
    assert hooks[0].oauth == WebhookOAuth(
        url="https://auth.example.com/oauth/token",
        client_id="my-client-id",
        client_secret="***",
        credentials_location=CredentialsLocation.HEADER,
        scope="read write",
    )
    assert hooks[1].http_authorization == "***"
    assert hooks[3].enabled is False
    assert hooks[2].enabled is True
    # The POST examples are webhooks too.
    content = operation("post", WEBHOOKS)["requestBody"]["content"]["application/json"]
    for example in content["examples"].values():
        for item in example["value"]:
            assert structure_response(item, Webhook).url == item["url"]


@pytest.mark.parametrize(
    "item",
    [
        {"subAccountId": "*", "url": "https://x", "enabled": "false"},
        {"subAccountId": "*"},
        {"subAccountId": "*", "url": "https://x", "oauth": {"url": "https://t"}},
    ],
)
def test_webhooks_of_the_wrong_shape_are_refused(item: dict[str, Any]) -> None:
    with pytest.raises(ResponseValidationError):
        structure_response(item, Webhook)


def test_unknown_credentials_location_is_kept() -> None:
    item = {
        "subAccountId": "*",
        "url": "https://x",
        "oauth": {
            "url": "https://t",
            "clientId": "c",
            "clientSecret": "***",
            "credentialsLocation": "query",
        },
    }
    hook = structure_response(item, Webhook)
    assert hook.oauth is not None
    assert hook.oauth.credentials_location == "query"


# --- webhooks: requests ------------------------------------------------------------------------

OAUTH = {"url": "https://auth.example.com/token", "client_id": "id", "client_secret": CLIENT_SECRET}


def test_set_webhook_bodies() -> None:
    plain = WebhookRequest(subaccount_id="*", url="https://example.com/hook")
    assert wire(plain) == {"subAccountId": "*", "url": "https://example.com/hook", "enabled": True}
    basic = WebhookRequest(
        subaccount_id="acme_hq",
        url="https://example.com/h",
        enabled=False,
        http_authorization=SECRET,
    )
    assert wire(basic) == {
        "subAccountId": "acme_hq",
        "url": "https://example.com/h",
        "enabled": False,
        "httpAuthorization": SECRET,
    }
    oauth = WebhookRequest(
        subaccount_id="acme_hq",
        url="https://example.com/h",
        oauth={**OAUTH, "credentials_location": "BODY", "scope": "read write"},
    )
    assert wire(oauth)["oauth"] == {
        "url": "https://auth.example.com/token",
        "clientId": "id",
        "clientSecret": CLIENT_SECRET,
        "credentialsLocation": "body",
        "scope": "read write",
    }
    # 8x8 requires credentialsLocation: sent even when it is the default.
    default = WebhookRequest(subaccount_id="*", url="https://example.com/h", oauth=OAUTH)
    assert wire(default)["oauth"]["credentialsLocation"] == "header"
    assert wire_array([WebhookDelete(subaccount_id="*"), WebhookDelete(subaccount_id="a_b")]) == [
        {"subAccountId": "*"},
        {"subAccountId": "a_b"},
    ]


def test_no_secret_in_any_repr() -> None:
    request = WebhookRequest(
        subaccount_id="acme_hq",
        url="https://user:pw-in-url@example.com/h",
        http_authorization=SECRET,
    )
    oauth = WebhookOAuth(**OAUTH)
    listed = Webhook(subaccount_id="*", url="https://x", http_authorization=SECRET, oauth=oauth)
    for shown in (repr(request), repr(oauth), repr(listed), str(listed)):
        assert SECRET not in shown
        assert CLIENT_SECRET not in shown
        assert "pw-in-url" not in shown


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        pytest.param({"subaccount_id": "**"}, "subaccount_id", "'*'", id="scope"),
        pytest.param({"subaccount_id": "ab"}, "subaccount_id", "3 to 50", id="scope-short"),
        pytest.param({"url": "example.com"}, "url", "http", id="url-relative"),
        pytest.param({"url": "https://exa mple.com"}, "url", "http", id="url-space"),
        pytest.param({"url": None}, "url", "given", id="url-none"),
        pytest.param({"enabled": 1}, "enabled", "True or False", id="enabled-int"),
        pytest.param({"http_authorization": "***"}, "http_authorization", "masked", id="mask"),
        pytest.param({"http_authorization": ""}, "http_authorization", "non-empty", id="empty"),
        # A server strips a header's value: a padded one would never match WebhookReceiver's.
        pytest.param(
            {"http_authorization": " Basic dXNlcjpwYXNz"}, "http_authorization", "spaces", id="pad"
        ),
        pytest.param(
            {"http_authorization": "Basic a\r\nX-Evil: 1"},
            "http_authorization",
            "printable ASCII",
            id="header-injection",
        ),
        pytest.param(
            {"http_authorization": SECRET, "oauth": OAUTH},
            "http_authorization",
            "omitted when oauth",
            id="both",
        ),
        pytest.param({"oauth": "token"}, "oauth", "WebhookOAuth", id="oauth-str"),
        pytest.param({"oauth": {**OAUTH, "secret": "x"}}, "oauth.secret", "a field", id="key"),
        pytest.param(
            {"oauth": {**OAUTH, "client_secret": None}}, "oauth.client_secret", "given", id="sec"
        ),
        pytest.param(
            {"oauth": {**OAUTH, "client_secret": "***"}}, "oauth.client_secret", "masked", id="m"
        ),
        pytest.param({"oauth": {**OAUTH, "url": "ftp://t"}}, "url", "http", id="oauth-url"),
        pytest.param(
            {"oauth": {**OAUTH, "credentials_location": "query"}},
            "oauth.credentials_location",
            "'header', 'body'",
            id="location",
        ),
        pytest.param(
            {"oauth": {**OAUTH, "client_id": ""}}, "oauth.client_id", "non-empty", id="client-id"
        ),
        pytest.param({"oauth": {**OAUTH, "scope": "a\nb"}}, "oauth.scope", "printable", id="sc"),
    ],
)
def test_set_webhook_rules(kwargs: dict[str, Any], field: str, rule_part: str) -> None:
    args = {"subaccount_id": "acme_hq", "url": "https://example.com/h", **kwargs}
    with pytest.raises(ValidationError) as info:
        WebhookRequest(**args)
    assert info.value.field.endswith(field)
    assert rule_part in info.value.rule
    assert CLIENT_SECRET not in str(info.value)
    assert "pw" not in str(info.value)


def test_a_listed_webhook_cannot_be_sent_back_with_its_masks() -> None:
    listed = structure_response(webhook_list_example()[1], Webhook)
    with pytest.raises(ValidationError) as info:
        WebhookRequest(
            subaccount_id=listed.subaccount_id,
            url=listed.url,
            http_authorization=listed.http_authorization,
        )
    assert info.value.field == "http_authorization"


def test_webhook_delete_rules() -> None:
    with pytest.raises(ValidationError) as info:
        WebhookDelete(subaccount_id="a/b")
    assert info.value.field == "subaccount_id"
    assert check_webhook_scope("*") == "*"


SCOPES = st.sampled_from(["*", "acme_hq", "Onion_Marketing", "a&b.c-d"]) | st.text(max_size=6)
URLS = st.sampled_from(
    ["https://example.com/h", "http://[::1]:8080/x?a=b", "https://u:p@example.com/%7Bid%7D"]
) | st.text(max_size=10)
PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12)
WEBHOOK_ARGS = st.fixed_dictionaries(
    {"subaccount_id": SCOPES, "url": URLS},
    optional={
        "enabled": st.booleans(),
        "http_authorization": st.none() | PRINTABLE | st.text(max_size=4),
        "oauth": st.none()
        | st.fixed_dictionaries(
            {"url": URLS, "client_id": PRINTABLE, "client_secret": PRINTABLE},
            optional={
                "credentials_location": st.sampled_from(["header", "body", "Header", "x"]),
                "scope": st.none() | PRINTABLE,
            },
        ),
    },
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(WEBHOOK_ARGS)
def test_every_accepted_webhook_is_json_8x8_accepts(args: dict[str, Any]) -> None:
    try:
        request = WebhookRequest(**args)
    except ValidationError as exc:
        event(f"refused: {exc.field}")
        return
    event("accepted")
    body = wire_array([request])
    assert check(request_schema("post", WEBHOOKS), body) == []
    assert body[0]["enabled"] is request.enabled


@settings(max_examples=100, deadline=None)
@given(st.lists(SCOPES, min_size=1, max_size=4))
def test_every_accepted_webhook_delete_is_json_8x8_accepts(scopes: list[str]) -> None:
    try:
        items = [WebhookDelete(subaccount_id=s) for s in scopes]
    except ValidationError:
        event("refused")
        return
    event("accepted")
    assert check(request_schema("delete", WEBHOOKS), wire_array(items)) == []


def test_the_webhook_schema_check_can_fail() -> None:
    schema = request_schema("post", WEBHOOKS)
    assert check(schema, [{"url": "https://x"}])
    assert check(schema, [{"subAccountId": "*", "url": "https://x", "oauth": {"url": "x"}}])
    assert check(schema, {"subAccountId": "*", "url": "https://x"})


# --- price query -------------------------------------------------------------------------------


def test_price_query_params() -> None:
    query = PriceQuery(country="SG", mcc=525, mnc=1, direction="Outbound", subaccount_id="a&b")
    assert query.direction is PriceDirection.OUTBOUND
    assert query.params() == {
        "country": "SG",
        "mcc": "525",
        "mnc": "1",
        "direction": "outbound",
        "subAccountId": "a&b",
    }
    assert PriceQuery().params() == {}


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        pytest.param({"country": "SGP"}, "country", "alpha-2", id="country"),
        pytest.param({"mcc": 525}, "mnc", "pair", id="mcc-alone"),
        pytest.param({"mnc": 1}, "mcc", "pair", id="mnc-alone"),
        pytest.param({"mcc": 1000, "mnc": 1}, "mcc", "0 to 999", id="mcc-range"),
        pytest.param({"mcc": 525, "mnc": "01"}, "mnc", "integer", id="mnc-str"),
        pytest.param({"mcc": True, "mnc": 1}, "mcc", "integer", id="mcc-bool"),
        pytest.param({"direction": "both"}, "direction", "'outbound', 'inbound'", id="direction"),
        pytest.param({"subaccount_id": "a/b"}, "subaccount_id", "3 to 50", id="subaccount"),
    ],
)
def test_price_query_rules(kwargs: dict[str, Any], field: str, rule_part: str) -> None:
    with pytest.raises(ValidationError) as info:
        PriceQuery(**kwargs)
    assert info.value.field == field
    assert rule_part in info.value.rule


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "country": st.none() | st.sampled_from(["SG", "us", "S1", "SGP"]),
            "mcc": st.none() | st.integers(-1, 1000),
            "mnc": st.none() | st.integers(-1, 1000),
            "direction": st.none() | st.sampled_from(["outbound", "INBOUND", "sideways"]),
            "subaccount_id": st.none() | SCOPES,
        },
    )
)
def test_every_accepted_price_query_matches_the_documented_parameters(args: dict[str, Any]) -> None:
    try:
        params = PriceQuery(**args).params()
    except ValidationError:
        event("refused")
        return
    event("accepted")
    documented = {
        p["name"]: p["schema"]
        for p in operation("get", PRICES)["parameters"]
        if p.get("in") == "query"
    }
    assert set(params) <= set(documented)
    typed = {k: int(v) if documented[k]["type"] == "integer" else v for k, v in params.items()}
    for name, value in typed.items():
        assert check(documented[name], value) == []
    assert ("mcc" in params) == ("mnc" in params)


# --- account id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0123456789abcdef0123456789ABCDEF",
        "01234567-89ab-cdef-0123-456789abcdef",
        "01234567-89abcdef-0123456789abcdef",
    ],
)
def test_account_id_accepted(value: str) -> None:
    assert check_account_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdefa",
        "01234567--89ab-cdef-0123-456789abcdef",
        "g123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef\n",
        "{01234567-89ab-cdef-0123-456789abcdef}",
        42,
    ],
)
def test_account_id_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        check_account_id(value)
    assert info.value.field == "account_id"
    # The variable is named as the field when the value came from it (see test_stranger_fixes).
    assert info.value.rule.startswith("a GUID")
    if isinstance(value, str) and value:
        assert value.strip() not in str(info.value)


def test_account_id_rule_is_the_openapi_one() -> None:
    (param,) = SPEC["paths"][WEBHOOKS]["parameters"]
    assert param["name"] == "accountId"
    assert param["schema"]["pattern"] == f"^{ACCOUNT_ID_PATTERN}$"


def test_the_converter_sends_what_the_models_say() -> None:
    """What the client actually sends (the converter's query and array bodies) matches."""
    query = PriceQuery(country="SG", mcc=525, mnc=5, direction="inbound", subaccount_id="a&b")
    assert dict(encode_query(query)) == query.params()
    assert encode_query(PriceQuery()) == []
    request = WebhookRequest(subaccount_id="*", url="https://example.com/h", oauth=OAUTH)
    body = json.loads(encode_request([request]))
    assert body == wire_array([request])
    assert check(request_schema("post", WEBHOOKS), body) == []
