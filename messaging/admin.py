"""Admin: stored messages (read-only, fast on millions of rows) and the dead letters."""
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.functional import cached_property

from . import buffer
from .models import DeadLetter, Message


class EstimatedCountPaginator(Paginator):
    """Pages without COUNT(*) over the whole table: PostgreSQL's planner estimate when
    unfiltered (a catalog read), an exact count only for filtered querysets."""

    @cached_property
    def count(self):
        query = self.object_list.query
        if connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [Message._meta.db_table])
                estimate = cursor.fetchone()[0]
            if estimate and estimate > 10_000:
                return estimate
        return super().count


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("message_id", "channel_id", "user_id", "short_content", "created_at", "inserted_at")
    list_filter = ("created_at", "inserted_at")
    search_fields = ("=message_id", "=channel_id", "=user_id", "content")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content if len(obj.content) <= 80 else obj.content[:79] + "…"

    def get_search_results(self, request, queryset, search_term):
        # "=message_id" with a non-UUID term would raise; "=channel_id" with text too.
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            import uuid

            return queryset.filter(message_id=uuid.UUID(term)), False
        except ValueError:
            pass
        if term.isdigit():
            from django.db.models import Q

            number = int(term)
            return queryset.filter(Q(channel_id=number) | Q(user_id=number)), False
        return queryset.filter(content__icontains=term), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Lists the Redis dead-letter list; requeue or discard the selected entries."""

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.changelist_view), name="messaging_deadletter_changelist")]

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            chosen = set(request.POST.getlist("dead_letter"))
            if not self.has_change_permission(request):
                messages.error(request, "You may not change dead letters.")
            elif request.POST.get("action") == "requeue":
                messages.success(request, f"Requeued {buffer.dead_letter_requeue(chosen)} dead letter(s).")
            elif request.POST.get("action") == "discard":
                messages.success(request, f"Discarded {buffer.dead_letter_discard(chosen)} dead letter(s).")
            return redirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "Dead letters",
            "opts": self.model._meta,
            "dead_letters": buffer.dead_letter_list(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "messaging/dead_letters.html", context)

    def has_add_permission(self, request):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff
