from django.urls import path
from feedback import views

urlpatterns = [
    path("feedback/", views.feedback),
    path("reports/", views.start_report),
    path("reports/<str:task_id>/", views.report_status),
    path("word-count/", views.word_count),
    path("orders/", views.orders),
    path("transfers/", views.transfers),
    path("transfers/<str:task_id>/", views.transfer_status),
]
