"""Admin: stored messages (read-only, fast on millions of rows), API keys, and the dead
letters (dead_letter_admin.py)."""

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.utils.functional import cached_property

from . import api_keys, dead_letter_admin  # noqa: F401 (registers DeadLetter)
from .message_ids import with_message_id
from .models import DEFAULT_SCOPES, SCOPES, ApiKey, Message, scopes_text
from .schemas import MAX_BIGINT


class EstimatedCountPaginator(Paginator):
    """Pages without COUNT(*) over the whole table on PostgreSQL.

    Unfiltered: the planner's estimate (a catalog read). When the estimate is small or
    unknown (a table never analysed reads -1, and a big load may not be analysed yet),
    count at most EXACT_UP_TO rows, so a stale estimate costs a bounded scan, never a
    full one. Filtered querysets (a search, a date range) are counted the same bounded way,
    and past EXACT_UP_TO take the planner's estimate of the filtered query: an exact COUNT(*)
    of a search that matches most of 10 million rows took 5.6 s (bench/scale.py).
    """

    EXACT_UP_TO = 10_000

    @cached_property
    def count(self):
        if connection.vendor != "postgresql":
            return super().count
        if self.object_list.query.where:
            return self._filtered_count()
        with connection.cursor() as cursor:
            # A partitioned table has no estimate of its own: its partitions' sum (each -1 until analysed).
            cursor.execute(
                "SELECT COALESCE(CASE WHEN bool_and(reltuples < 0) THEN -1 ELSE sum(greatest(reltuples, 0)) END, -1)::bigint FROM pg_class "
                "WHERE relkind = 'r' AND (oid = to_regclass(%s) OR oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s)))",
                [Message._meta.db_table] * 2,
            )
            estimate = cursor.fetchone()[0]
        if estimate > self.EXACT_UP_TO:
            return estimate
        return max(self._bounded_count(), estimate)

    def _bounded_count(self) -> int:
        # Unordered: with the changelist's ORDER BY, PostgreSQL sorted every match to keep
        # the newest EXACT_UP_TO + 1 (3.9 s for a search all 10 million rows match);
        # without it the scan stops at the limit.
        return self.object_list.order_by()[: self.EXACT_UP_TO + 1].count()

    def _filtered_count(self) -> int:
        counted = self._bounded_count()
        if counted <= self.EXACT_UP_TO:
            return counted
        # More than EXACT_UP_TO match: the planner's row estimate for the filter, and never
        # fewer than were counted (its guess at a LIKE's selectivity can be far too low).
        plan = json.loads(self.object_list.explain(format="json"))
        return max(int(plan[0]["Plan"]["Plan Rows"]), counted)


class MessageChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        if self.result_count == 0:
            # Nothing matched, yet a single page's rows are fetched by the full queryset
            # again: for a content search that no row matches, a second sequential scan.
            self.result_list = self.queryset.none()


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("message_id", "channel_id", "user_id", "short_content", "created_at", "inserted_at")
    list_filter = ("created_at", "inserted_at")
    search_fields = ("=message_id", "=channel_id", "=user_id", "content")
    # No date_hierarchy: it truncates the date of every row to draw its links (2.6 s for the
    # first page at 10 million rows, bench/scale.py); list_filter's created_at ranges cost
    # an index range scan once chosen.
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return MessageChangeList

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content if len(obj.content) <= 80 else obj.content[:79] + "…"

    def get_search_results(self, request, queryset, search_term):
        # One indexed lookup per kind of term, instead of Django's OR over every field
        # ("=message_id" with a non-UUID term would raise; "=channel_id" with text too):
        # a UUID is a message_id, a number a channel or user id, anything else content.
        term = search_term.replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
        if not term:
            return queryset, False
        try:
            return with_message_id(queryset, uuid.UUID(term)), False
        except ValueError:
            pass
        if term.isdigit() and 1 <= int(term) <= MAX_BIGINT:
            number = int(term)
            return queryset.filter(Q(channel_id=number) | Q(user_id=number)), False
        return queryset.filter(content__icontains=term), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApiKeyForm(forms.ModelForm):
    """The scopes as one checkbox each; stored as the comma-separated text `--scope` takes."""

    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(DEFAULT_SCOPES),
        help_text="ingest: POST /messages, /messages/bulk. read: the GET routes and /metrics. operate: DELETE /reset, POST /simulate.",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["scopes"] = sorted(self.instance.scope_set)

    def clean_scopes(self):
        return scopes_text(self.cleaned_data["scopes"])


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Issue and revoke API keys, and set what each may do. Only a digest is stored: the
    key is shown once, on creation."""

    form = ApiKeyForm
    list_display = ("name", "prefix", "scopes", "created_at", "revoked_at", "active")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    fields = ("name", "scopes")
    actions = ("revoke",)

    @admin.display(boolean=True, description="active")
    def active(self, obj):
        return obj.is_active

    def get_readonly_fields(self, request, obj=None):
        return ("name",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            # Nothing else about a key may change (revocation is the action).
            obj.save(update_fields=["scopes"])
            api_keys.forget_cached_keys()  # this process at once; others within api_keys.CACHE_SECONDS
            return
        key, raw = api_keys.api_key_create(name=obj.name, scopes=obj.scope_set)
        obj.pk, obj.prefix, obj.digest, obj.created_at = key.pk, key.prefix, key.digest, key.created_at
        messages.warning(
            request, f"The key for {key.name!r} is {raw} - copy it now: it is not stored and will not be shown again."
        )

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            api_keys.api_key_revoke(key=key)
            revoked += 1
        api_keys.forget_cached_keys()  # this process at once; others within api_keys.CACHE_SECONDS
        messages.success(request, f"Revoked {revoked} key{'' if revoked == 1 else 's'}.")
