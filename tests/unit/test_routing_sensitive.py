"""The sensitive-data detector: each kind on positive and negative examples, checksums (Luhn,
IBAN mod-97 with the country lengths, the SSA's SSN rules), masking (the raw value is never in a
finding), a 16,000-character prompt, and adversarial inputs that would make a careless regex
backtrack for ever. Secret-looking values are assembled at run time, so that no file in the
repository holds something a secret scanner would take for a real key."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput
from workbench.routing import sensitive
from workbench.routing.sensitive import Detector, detect, iban_ok, kinds_of, luhn_ok, ssn_ok


def kinds(text: str, **options) -> tuple[str, ...]:
    return kinds_of(detect(text, **options))


def found(text: str, kind: str) -> list[str]:
    return [text[f.start:f.end] for f in detect(text) if f.kind == kind]


def assert_masked(text: str, value: str) -> None:
    findings = detect(text)
    assert findings, text
    for f in findings:
        assert value not in f.excerpt_masked
        assert f.excerpt_masked != text[f.start:f.end]


# -- e-mail ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["john.doe@example.com", "a.b+tag@mail.example.co.uk",
                                   "X_Y-z%1@sub-domain.example.org", "jo@x.io"])
def test_email_found(value) -> None:
    text = f"write to {value}, please"
    assert found(text, "email") == [value]
    assert_masked(text, value)


@pytest.mark.parametrize("text", ["a @ b.com", "user@localhost", "@example.com", "me@example",
                                  "name@@example.com x", "x@y.c", ".lead@example.com"])
def test_not_an_email(text) -> None:
    assert "email" not in kinds(text)


# -- phone numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "+44 20 7946 0958", "+14155552671", "+33 6 12 34 56 78", "+49 30 1234567",
    "+1 (415) 555-2671", "(415) 555-2671", "415-555-2671", "415.555.2671", "1-415-555-2671",
    "020 7946 0958", "06 12 34 56 78", "030 1234567", "07700 900123",
])
def test_phone_found(value) -> None:
    text = f"reach me at {value} today"
    assert found(text, "phone") == [value]
    assert_masked(text, value)


@pytest.mark.parametrize("text", ["call me on 0612345678", "phone: 4155552671",
                                  "Tel 02079460958"])
def test_bare_phone_digits_need_a_phone_word(text) -> None:
    assert kinds(text) == ("phone",)
    assert kinds(text.split()[-1]) == ()  # the digits alone are not a phone number


@pytest.mark.parametrize("text", [
    "on 2024-01-15 at 10:30", "version 1.2.3.4.5", "order 1234567890", "pi is 3.14159265358",
    "555-1234", "(123) 456-7890", "+1 23", "1,234,567,890 rows", "x = 10 20 30 40",
    "ratio 0.25 0.50 0.125", "in 2024 and 2025 and 2026",
])
def test_not_a_phone(text) -> None:
    assert "phone" not in kinds(text)


# -- payment cards ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5555 5555 5555 4444",
    "378282246310005", "3782 822463 10005", "6011111111111117", "3530111333300000",
    "30569309025904", "2221000000000009", "4012888888881881",
])
def test_card_found(value) -> None:
    text = f"my card: {value}, exp 12/27"
    assert found(text, "card") == [value]
    assert kinds(text) == ("card",)
    assert_masked(text, value)
    masked = detect(text)[0].excerpt_masked
    assert masked.endswith(value[-4:]) and masked.count("*") == sum(c.isdigit()
                                                                    for c in value) - 4


@pytest.mark.parametrize("text", [
    "4111111111111112",  # fails Luhn
    "4111 1111 1111 1112", "411111111111",  # 12 digits
    "41111111111111111111",  # 20 digits
    "1700000000000",  # a millisecond timestamp (starts with 1)
    "9111111111111111",  # not a card range
    "4111 1111-1111 1111",  # two kinds of separator
    "x4111111111111111", "3.4111111111111111",  # part of something else
])
def test_not_a_card(text) -> None:
    assert "card" not in kinds(text)


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_card_followed_by_more_digits_still_found() -> None:
    assert found("4111 1111 1111 1111 2027", "card") == ["4111 1111 1111 1111"]


# -- IBANs --------------------------------------------------------------------------------------
VALID_IBANS = [
    "DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
    "NL91ABNA0417164300", "ES9121000418450200051332", "IT60X0542811101000000123456",
    "BE68539007547034", "CH9300762011623852957", "NO9386011117947", "PL61109010140000071219812874",
    "AT611904300234573201", "SE4550000000058398257466", "FI2112345600000785",
    "IE29AIBK93115212345678", "PT50000201231234567890154", "SA0380000000608010167519",
    "BR1800360305000010009795493C1", "MT84MALT011000012345MTLCAST001S",
]


def spaced(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_iban_found_compact_and_spaced(iban) -> None:
    assert iban_ok(iban)
    for value in (iban, spaced(iban), spaced(iban).lower()):
        text = f"pay to {value} by Friday"
        assert found(text, "iban") == [value]
        assert kinds(text) == ("iban",)
        assert_masked(text, value)


def _break_check_digits(iban: str) -> str:
    digits = f"{(int(iban[2:4]) + 1) % 100:02d}"
    return iban[:2] + digits + iban[4:]


@pytest.mark.parametrize("iban", VALID_IBANS[:8])
def test_invalid_iban_not_found(iban) -> None:
    bad = _break_check_digits(iban)
    assert not iban_ok(bad)
    for value in (bad, spaced(bad)):
        assert kinds(f"pay to {value} by Friday") == ()


@pytest.mark.parametrize("text", [
    "DE8937040044053201300",  # one character short for Germany
    "XX89370400440532013000",  # no such country
    "DE89370400440532013000123",  # longer: part of something else
])
def test_not_an_iban(text) -> None:
    assert "iban" not in kinds(text)


def test_an_iban_after_a_false_start_is_found() -> None:
    assert found("ref XX12 DE89 3704 0044 0532 0130 00", "iban") == [
        "DE89 3704 0044 0532 0130 00"]


# -- US social security numbers -----------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("ssn 123-45-6789 on file", "123-45-6789"), ("her number is 219 09 9999", "219 09 9999"),
    ("SSN: 123456789", "123456789"), ("social security number 078051120", "078051120"),
])
def test_ssn_found(text, value) -> None:
    assert found(text, "ssn") == [value]
    assert_masked(text, value)


@pytest.mark.parametrize("text", [
    "000-12-3456", "666-12-3456", "900-12-3456", "987-65-4321", "123-00-4567", "123-45-0000",
    "id 123456789", "1234-56-7890", "123-45-67890", "123-45 6789",
])
def test_not_an_ssn(text) -> None:
    assert "ssn" not in kinds(text)


def test_ssn_rules() -> None:
    assert ssn_ok("001", "01", "0001")
    assert not ssn_ok("000", "01", "0001") and not ssn_ok("666", "01", "0001")
    assert not ssn_ok("950", "01", "0001") and not ssn_ok("001", "00", "0001")
    assert not ssn_ok("001", "01", "0000")


# -- IP addresses -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "10.0.0.1", "192.168.1.254", "255.255.255.255", "2001:db8::1", "fe80::1ff:fe23:4567:890a",
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:c000:280",
])
def test_ip_found(value) -> None:
    text = f"the host at {value}."
    assert found(text, "ip") == [value]
    assert_masked(text, value)


@pytest.mark.parametrize("text", [
    "256.1.1.1", "1.2.3", "1.2.3.4.5", "v1.2.3.4", "01.2.3.4", "12:30:45", "x[1::2]",
    "std::vector<int>", "00:1a:2b:3c:4d:5e", "a :: b", "dead:beef", "::",
])
def test_not_an_ip(text) -> None:
    assert "ip" not in kinds(text)


# -- API keys and secrets -----------------------------------------------------------------------
R = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU1vW3xY5z"  # 34 characters, letters and digits


SECRETS = {
    "openai": "sk-" + "proj-" + R,
    "openai-old": "sk-" + R[:20] + R[:28],
    "anthropic": "sk-" + "ant-api03-" + R + "_-" + R,
    "github-classic": "gh" + "p_" + R + "AB",
    "github-oauth": "gh" + "o_" + R + "CD",
    "github-fine-grained": "github_" + "pat_" + "11ABCDEFG0" + R,
    "slack-bot": "xo" + "xb-" + "1234567890-0987654321-" + R[:24],
    "slack-user": "xo" + "xp-" + "1234567890-" + R[:20],
    "aws": "AK" + "IA" + "IOSFODNN7EXAMPLE",
    "google": "AI" + "za" + "SyA-" + R[:31],
    "huggingface": "h" + "f_" + R,
    "stripe": "sk" + "_live_" + R[:24],
    "jwt": "ey" + "JhbGciOiJIUzI1NiJ9.ey" + "JzdWIiOiIxMjM0NTY3ODkwIn0." + R,
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secret_prefixes(name) -> None:
    value = SECRETS[name]
    text = f"use this key {value} for the call"
    assert found(text, "secret") == [value], name
    assert kinds(text) == ("secret",)
    assert_masked(text, value)


def test_private_key() -> None:
    for kind in ("", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "):
        text = f"-----BEGIN {kind}PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END"
        assert kinds(text) == ("secret",)
    assert kinds("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq") == ()


@pytest.mark.parametrize("text, value", [
    ("my password is hunter22", "hunter22"), ("password: Tr0ub4dor&3", "Tr0ub4dor&3"),
    ('{"password": "s3cr3t-Value"}', "s3cr3t-Value"), ("API_KEY=abc123def456", "abc123def456"),
    ("secret_key = 'django-insecure-9x!k'", "django-insecure-9x!k"),
    ("the token was Zq81Hf77Lk.", "Zq81Hf77Lk"), ("access token -> 4f9a2c1b8e7d", "4f9a2c1b8e7d"),
])
def test_high_entropy_values_after_secret_words(text, value) -> None:
    assert found(text, "secret") == [value]
    assert_masked(text, value)


@pytest.mark.parametrize("text", [
    "token = get_token()", "max_tokens=512", "password = os.environ['PW']",
    "the password is incorrect", "reset your password", "token count: 2048",
    "a secret recipe", "skip sk-learn for now", "sklearn is fine", "aaaa11 token aaaa11",
    "token: aaaaaa1",
])
def test_ordinary_words_are_not_secrets(text) -> None:
    assert "secret" not in kinds(text)


# -- the user's keywords and patterns -----------------------------------------------------------
def test_keywords_whole_words_any_case() -> None:
    options = {"keywords": ["Project Falcon", "ACME"]}
    assert kinds("Status of project falcon?", **options) == ("keyword",)
    assert kinds("acme corp", **options) == ("keyword",)
    assert kinds("falconry and acmeology", **options) == ()
    [finding] = detect("Status of PROJECT FALCON", **options)
    assert finding.excerpt_masked == "P***"


def test_patterns() -> None:
    options = {"patterns": [r"\bEMP-\d{6}\b", r"(?i)confidential"]}
    assert kinds("employee EMP-123456 left", **options) == ("pattern",)
    assert kinds("CONFIDENTIAL memo", **options) == ("pattern",)
    assert kinds("EMP-12345 is short", **options) == ()
    assert all(f.excerpt_masked == "***" for f in detect("EMP-123456", **options))


def test_a_bad_pattern_is_refused() -> None:
    with pytest.raises(BadInput, match="not a valid regular expression"):
        Detector(patterns=["(unclosed"])
    with pytest.raises(BadInput, match="unknown sensitive-data kind"):
        Detector(kinds=["email", "dna"])


def test_kinds_can_be_left_out() -> None:
    detector = Detector(kinds=[k for k in sensitive.BUILTIN_KINDS if k != "ip"])
    assert detector.detect("ping 10.0.0.1") == []
    assert [f.kind for f in detector.detect("mail a@example.com")] == ["email"]


# -- a whole prompt -----------------------------------------------------------------------------
def long_prompt(planted: str = "") -> str:
    paragraph = ("Summarise the quarterly report: revenue grew 12% to 4.2 million across 17 "
                 "regions; see section 3.1, table 2 (2024-03-31), and version 1.2.3 of the "
                 "model at 10:30. Code: for i in range(10): total += items[i::2]\n")
    text = paragraph * (16_000 // len(paragraph) + 1)
    middle = len(text) // 2
    return (text[:middle] + planted + text[middle:])[:16_000 + len(planted)]


def test_a_16000_character_prompt() -> None:
    clean = long_prompt()
    assert len(clean) >= 16_000
    assert detect(clean) == []
    planted = " mail jane@example.org, card 4111 1111 1111 1111, IBAN GB82WEST12345698765432 "
    assert kinds(long_prompt(planted)) == ("email", "card", "iban")


def test_findings_are_in_order_and_never_hold_the_text() -> None:
    text = ("a@example.com then +44 20 7946 0958 then 4111111111111111 then 123-45-6789 then "
            "10.1.2.3 then " + SECRETS["huggingface"])
    findings = detect(text)
    assert [f.kind for f in findings] == ["email", "phone", "card", "ssn", "ip", "secret"]
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    for f in findings:
        raw = text[f.start:f.end]
        assert raw not in repr(f)


# -- adversarial input --------------------------------------------------------------------------
ADVERSARIAL = [
    "1" * 100_000, "@" * 100_000, ":" * 100_000, "1 " * 50_000, "1-" * 50_000, "1." * 50_000,
    "a@" * 50_000, "a." * 50_000 + "@", "+1" * 50_000, "(1) " * 25_000, "4111 " * 20_000,
    "0612 " * 20_000, "DE89 " * 20_000, "ab12 " * 20_000, "f:" * 50_000, "1:" * 50_000,
    "a" * 100_000, "password " * 11_000, "token: " * 14_000, "sk-" * 33_000,
    "-----BEGIN " * 9_000, "eyJ" * 33_000, "eyJaaaaaaaaa." * 8_000, "x" * 64 + "@" * 50_000,
    "1-1 " * 25_000, "123-45-" * 14_000, "::1 " * 25_000, "0.0.0." * 16_000,
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:8]))
def test_adversarial_input_ends(text) -> None:
    findings = detect(text)
    assert isinstance(findings, list)
    assert all(f.excerpt_masked and f.end > f.start for f in findings)


def test_findings_after_adversarial_junk_are_still_found() -> None:
    text = "1 " * 20_000 + "@" * 20_000 + " mail jane@example.org " + ":" * 10_000
    assert "email" in kinds(text)
