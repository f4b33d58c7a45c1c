"""Index-friendly customer search: number, phone, email or name prefix; never a full scan."""

import re

from dedup.normalize import looks_like_phone, nfkc, normalize_email, normalize_name, normalize_phone

NUMBER_RE = re.compile(r"^C\d{4,11}$", re.IGNORECASE)


def search_filter(queryset, text: str):
    from customers.models import ContactPoint

    text = nfkc(text)
    if not text:
        return queryset
    if NUMBER_RE.match(text):
        return queryset.filter(number=text.upper())
    if "@" in text:
        email = normalize_email(text)
        return queryset.filter(
            pk__in=ContactPoint.objects.filter(kind=ContactPoint.Kind.EMAIL, normalized=email).values("customer_id")
        )
    if looks_like_phone(text):
        phone = normalize_phone(text)
        if phone:
            return queryset.filter(
                pk__in=ContactPoint.objects.filter(
                    normalized=phone, kind__in=[ContactPoint.Kind.MOBILE, ContactPoint.Kind.LANDLINE]
                ).values("customer_id")
            )
    return queryset.filter(name_normalized__startswith=normalize_name(text))
