"""URLs of account teams, the public pool and bulk reassignment, included at customers/ (namespace teams)."""

from django.urls import path

from customers import pool_views, team_views

app_name = "teams"

urlpatterns = [
    path("pool/", pool_views.pool_list, name="pool"),
    path("pool/<int:pk>/claim/", pool_views.pool_claim, name="pool_claim"),
    path("pool/<int:pk>/assign/", pool_views.pool_assign, name="pool_assign"),
    path("reassign/", team_views.reassign, name="reassign"),
    path("<int:pk>/team/", team_views.team_section, name="team"),
    path("<int:pk>/team/add/", team_views.team_member_add, name="team_add"),
    path("<int:pk>/team/candidates/", team_views.team_candidates, name="team_candidates"),
    path("team-members/<int:pk>/remove/", team_views.team_member_remove, name="team_remove"),
]
