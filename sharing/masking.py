"""Masking of sensitive values: 138****5678, z***@example.com, 1101**********1234."""

import contextlib
import re

import phonenumbers

MASK = "****"


def mask_phone(value: str) -> str:
    """Show the first three and last four national digits: '+8613812345678' → '138****5678'."""
    digits = re.sub(r"\D", "", value or "")
    if value and value.strip().startswith("+"):
        with contextlib.suppress(phonenumbers.NumberParseException):
            digits = str(phonenumbers.parse(value.strip(), None).national_number)
    if len(digits) <= 4:
        return MASK
    if len(digits) < 8:
        return MASK + digits[-2:]
    return f"{digits[:3]}{MASK}{digits[-4:]}"


def mask_email(value: str) -> str:
    local, _, domain = (value or "").partition("@")
    if not domain:
        return MASK
    return f"{local[:1]}***@{domain}"


def mask_id_number(value: str) -> str:
    value = value or ""
    if len(value) <= 8:
        return MASK
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_address(value: str) -> str:
    """Keep up to the city (the first ~6 characters), hide the street."""
    value = value or ""
    match = re.match(r"^(.{2,4}?(省|自治区|市)?.{2,4}?(市|州|盟))", value)
    head = match.group(1) if match else value[:4]
    return f"{head}{MASK}" if value else ""


def mask_generic(value: str) -> str:
    value = str(value or "")
    if len(value) <= 2:
        return MASK
    return f"{value[:1]}{MASK}{value[-1:]}"


def mask_date(value) -> str:
    return f"{value.year}-**-**" if value else ""


def mask_contact(kind: str, value: str) -> str:
    if kind in ("mobile", "landline"):
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    if kind == "address":
        return mask_address(value)
    return mask_generic(value)
