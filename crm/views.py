"""Site-wide pages: home and health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render


@login_required
def home(request):
    from crm.selectors import home_context

    return render(request, "crm/home.html", home_context(request.user))


def healthz(request):
    """Liveness and database reachability, for load balancers. Reveals no data."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
