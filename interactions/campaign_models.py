"""Customer care rules and campaigns (imported by interactions/models.py; see docs/reminders-and-campaigns.md).

- A **care rule** (birthday, holiday, dormant customer) is maintained by an administrator; the
  daily job turns each customer it matches into a touch (a follow-up task and/or a reminder for
  the owner). `CareTouch` is unique per rule, customer and occasion, so reruns touch nobody twice,
  and each `CareRun` records which customers it touched and how many were left out for lack of
  marketing consent.
- A **campaign** snapshots its target list from a saved customer-list filter, evaluated with the
  creator's visibility; `CampaignParticipation` holds one row per targeted customer and its stage.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

AMOUNT = {"max_digits": 14, "decimal_places": 2}


class CareRule(models.Model):
    class Kind(models.TextChoices):
        BIRTHDAY = "birthday", _("Birthday (people)")
        HOLIDAY = "holiday", _("Holiday or fixed date")
        DORMANT = "dormant", _("No order for a number of days")

    class Action(models.TextChoices):
        FOLLOWUP = "followup", _("Create a follow-up task for the owner")
        GREETING_LIST = "greeting_list", _("Send the owner a list of customers to greet")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    action = models.CharField(_("action"), max_length=15, choices=Action.choices, default=Action.FOLLOWUP)
    days_before = models.PositiveSmallIntegerField(
        _("days before"), default=3, help_text=_("Birthday and holiday rules: how many days ahead to act (0–60).")
    )
    event_on = models.DateField(
        _("date"),
        null=True,
        blank=True,
        help_text=_("Holiday rules: this year's date of the holiday (e.g. Spring Festival 2027-02-06)."),
    )
    inactive_days = models.PositiveSmallIntegerField(
        _("days without an order"), null=True, blank=True, help_text=_("Dormant rules: e.g. 90.")
    )
    customer_filter = models.CharField(
        _("customer filter"),
        max_length=500,
        blank=True,
        help_text=_(
            "Query parameters of the customer list, e.g. tag=3&kind=person (copy them from the list's address)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The filter is evaluated with this person's visibility."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("care rule")
        verbose_name_plural = _("care rules")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.kind in (self.Kind.BIRTHDAY, self.Kind.HOLIDAY) and not 0 <= (self.days_before or 0) <= 60:
            errors["days_before"] = _("Act between 0 and 60 days ahead.")
        if self.kind == self.Kind.HOLIDAY and not self.event_on:
            errors["event_on"] = _("A holiday rule needs the holiday's date.")
        if self.kind == self.Kind.DORMANT and not (self.inactive_days and 7 <= self.inactive_days <= 3650):
            errors["inactive_days"] = _("Give the number of days without an order (7 to 3650).")
        if self.kind != self.Kind.HOLIDAY and self.event_on:
            errors["event_on"] = _("Only holiday rules have a date.")
        if errors:
            raise ValidationError(errors)
        # The target must not be empty: a rule that matches nobody is a mistake, not a rule.
        if self.created_by_id and not errors:
            from interactions.care import care_rule_candidates

            if not care_rule_candidates(self).exists():
                raise ValidationError(
                    {
                        "customer_filter": _(
                            "No customer matches this rule's filter (for its creator): the target is empty."
                        )
                    }
                )


class CareRun(models.Model):
    """One daily run of one rule: which customers it touched (CareTouch) and how many it left out."""

    rule = models.ForeignKey(CareRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="runs")
    ran_on = models.DateField(_("day"))
    touched = models.PositiveIntegerField(_("customers touched"), default=0)
    excluded_no_consent = models.PositiveIntegerField(_("left out: no marketing consent"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("care run")
        verbose_name_plural = _("care runs")
        ordering = ["-ran_on", "-pk"]
        constraints = [models.UniqueConstraint(fields=["rule", "ran_on"], name="care_run_once_a_day")]

    def __str__(self):
        return f"{self.rule} {self.ran_on}"


class CareTouch(models.Model):
    """A customer a rule acted on for one occasion (a birthday, a holiday, a dormancy)."""

    rule = models.ForeignKey(CareRule, on_delete=models.CASCADE, related_name="touches")
    run = models.ForeignKey(CareRun, on_delete=models.CASCADE, related_name="touches")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="care_touches")
    occasion_on = models.DateField(_("occasion"))
    activity = models.ForeignKey(
        "interactions.Activity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("care touch")
        verbose_name_plural = _("care touches")
        constraints = [
            models.UniqueConstraint(fields=["rule", "customer", "occasion_on"], name="care_touch_once_per_occasion")
        ]


class Campaign(models.Model):
    class Kind(models.TextChoices):
        EVENT = "event", pgettext_lazy("campaign kind", "Event")
        TRIAL = "trial", _("Product trial")
        TRAINING = "training", _("Training")
        MAILING = "mailing", _("Mailing")

    name = models.CharField(_("name"), max_length=150)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    starts_on = models.DateField(_("start date"))
    ends_on = models.DateField(_("end date"))
    owner_unit = models.ForeignKey(
        "sharing.OrgUnit", verbose_name=_("owner unit"), on_delete=models.PROTECT, related_name="campaigns"
    )
    budget = models.DecimalField(_("budget"), **AMOUNT, default=0)
    customer_filter = models.CharField(_("target filter"), max_length=500, blank=True)
    target_built_at = models.DateTimeField(_("target list built"), null=True, blank=True)
    excluded = models.JSONField(_("left out of the target list"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_end_after_start"),
            models.CheckConstraint(condition=Q(budget__gte=0), name="campaign_budget_nonneg"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("interactions:campaign_detail", args=[self.pk])

    def clean(self):
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": _("The end date must not be before the start date.")})


class CampaignParticipation(models.Model):
    """One targeted customer of a campaign and how far they came (a ladder: each stage implies the earlier)."""

    class Status(models.TextChoices):
        TARGETED = "targeted", _("Targeted")
        INVITED = "invited", _("Invited")
        REGISTERED = "registered", _("Registered")
        ATTENDED = "attended", _("Attended")
        RESPONDED = "responded", _("Responded")
        CONVERTED = "converted", _("Converted")

    RANK = {s: i for i, s in enumerate(Status.values)}

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="participations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="campaign_participations")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.TARGETED)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("campaign participation")
        verbose_name_plural = _("campaign participations")
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_participation_once")]
        indexes = [models.Index(fields=["customer", "-updated_at"], name="participation_customer_at")]

    def __str__(self):
        return f"{self.campaign_id}:{self.customer_id} {self.status}"


def next_birthday(birth_date: datetime.date, day: datetime.date) -> datetime.date:
    """The first birthday on or after `day` (29 February is celebrated on 28 February in other years)."""
    for year in (day.year, day.year + 1):
        try:
            candidate = birth_date.replace(year=year)
        except ValueError:
            candidate = datetime.date(year, 2, 28)
        if candidate >= day:
            return candidate
    raise AssertionError("unreachable")
