from django.urls import path

from dedup import views

app_name = "dedup"

urlpatterns = [
    path("check/", views.check, name="check"),
    path("lookup/", views.lookup, name="lookup"),
    path("pairs/", views.queue, name="queue"),
    path("pairs/<int:pk>/", views.pair_detail, name="pair"),
    path("pairs/<int:pk>/merge/", views.merge, name="merge"),
    path("pairs/<int:pk>/decide/", views.pair_decide, name="pair_decide"),
    path("merges/", views.journal_list, name="merges"),
    path("merges/<int:pk>/", views.journal_detail, name="journal"),
    path("merges/<int:pk>/unmerge/", views.unmerge, name="unmerge"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/resume/", views.job_resume, name="job_resume"),
    path("quality/", views.quality, name="quality"),
]
