"""URL routes: health check, login/logout, the item API and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from demo_project import views
from inventory import views as inventory_views

urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/items/", inventory_views.items_collection, name="item-list"),
    path("api/items/<int:pk>/", inventory_views.item_detail, name="item-detail"),
    path("api/items/<int:pk>/events/", inventory_views.item_events, name="item-events"),
    path("admin/", admin.site.urls),
]
