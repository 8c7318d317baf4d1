"""Admin's dead-letter page: both homes (Redis, and PostgreSQL past the cap) as one list,
as work: filter by reason, counts per reason, requeue or discard the selected entries or
everything the filter matches, export the matching entries as JSON lines.

Django's model permissions on DeadLetter apply: view_deadletter to see and export them
(payloads are message contents), change_deadletter to requeue or discard.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import urlencode

from . import dead_letters, jobs, outages
from .models import DeadLetter

SHOWN = 500  # entries on the page; the actions on "all matching" reach every one


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    ACTIONS = {
        "requeue": (True, False, "Requeued"),
        "discard": (False, False, "Discarded"),
        "requeue_matching": (True, True, "Requeued"),
        "discard_matching": (False, True, "Discarded"),
    }

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.changelist_view), name="messaging_deadletter_changelist")]

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            return self._act(request)
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        reason = request.GET.get("reason")
        if request.GET.get("export") == "jsonl":
            response = StreamingHttpResponse(dead_letters.dead_letters_export(reason), content_type="application/x-ndjson")
            response["Content-Disposition"] = 'attachment; filename="dead-letters.jsonl"'
            return response
        try:
            counts = dead_letters.reason_counts()
            entries = dead_letters.dead_letters_list(reason, limit=SHOWN)
        except (DatabaseError, *outages.QUEUE_ERRORS) as exc:
            messages.error(request, f"The dead letters cannot be read now ({exc.__class__.__name__}); try again.")
            counts, entries = {}, []
        matching = sum(counts.get(reason, {}).values()) if reason is not None else sum(sum(c.values()) for c in counts.values())
        context = {
            **self.admin_site.each_context(request),
            "title": "Dead letters",
            "opts": self.model._meta,
            "dead_letters": entries,
            "reason": reason,
            "reasons": [
                {"reason": r, "redis": c["redis"], "database": c["database"], "query": urlencode({"reason": r})}
                for r, c in counts.items()
            ],
            "total": matching,
            "shown": len(entries),
            "export_query": urlencode({"export": "jsonl", **({"reason": reason} if reason is not None else {})}),
            "can_act": self.has_change_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "messaging/dead_letters.html", context)

    def _act(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        action = request.POST.get("action")
        reason = request.POST.get("reason")  # the filter the page showed (absent: none)
        chosen = set(request.POST.getlist("dead_letter"))
        back = request.path + (f"?{urlencode({'reason': reason})}" if reason is not None else "")
        if action not in self.ACTIONS:
            messages.error(request, "Unknown action.")
            return redirect(back)
        requeue, matching, verb = self.ACTIONS[action]
        if not matching and not chosen:
            messages.warning(request, "Select the dead letters to requeue or discard first.")
            return redirect(back)
        try:
            if matching:
                done = dead_letters.dead_letters_take_matching(reason, requeue=requeue)
            else:
                done = dead_letters.dead_letters_take(chosen, requeue=requeue)
        except (DatabaseError, *outages.QUEUE_ERRORS) as exc:
            messages.error(request, f"Stopped: {exc.__class__.__name__}. What was done before it stays done; try again.")
            return redirect(back)
        if done and requeue:
            jobs.request_flush_job()  # nothing else would move them: ingest asks only when it pushes
        messages.success(request, f"{verb} {done} dead letter{'' if done == 1 else 's'}.")
        return redirect(back)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
