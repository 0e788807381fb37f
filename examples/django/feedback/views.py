import json

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from feedback.models import Account, Feedback, Order
from feedback.tasks import confirm_order, count_words, generate_annual_report, send_thank_you_email, transfer


@csrf_exempt
def feedback(request: HttpRequest) -> JsonResponse:
    entry = Feedback.objects.create(email=request.POST["email"], message=request.POST["message"])
    # Published only once the view's transaction commits (ATOMIC_REQUESTS or an atomic block).
    send_thank_you_email.delay_on_commit(entry.email)
    return JsonResponse({"id": entry.id}, status=201)


@csrf_exempt
def start_report(request: HttpRequest) -> JsonResponse:
    handle = generate_annual_report.delay(int(request.POST["year"]))
    return JsonResponse({"task_id": handle.id}, status=202)


def report_status(request: HttpRequest, task_id: str) -> JsonResponse:
    handle = generate_annual_report.AsyncResult(task_id)  # Celery's spelling, as in the seed view
    return JsonResponse({"state": handle.status, "result": handle.result})


@csrf_exempt
def word_count(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        result = count_words.using(queue_name=settings.QUEUE).enqueue(json.loads(request.body)["text"])
        return JsonResponse({"id": result.id}, status=202)
    result = count_words.get_result(request.GET["id"])
    value = result.return_value if result.is_finished else None
    return JsonResponse({"status": str(result.status), "value": value})


@csrf_exempt
def orders(request: HttpRequest) -> JsonResponse:
    # The task's row is written in this transaction and published after its commit (the outbox):
    # a rollback publishes nothing, and the worker always finds the order.
    with transaction.atomic():
        order = Order.objects.create(item=request.POST["item"])
        handle = confirm_order.delay(order.id)
    return JsonResponse({"id": order.id, "task_id": handle.id}, status=201)


@csrf_exempt
def transfers(request: HttpRequest) -> JsonResponse:
    for name in (request.POST["source"], request.POST["target"]):
        Account.objects.get_or_create(name=name, defaults={"balance": 100})
    handle = transfer.delay(request.POST["source"], request.POST["target"], int(request.POST["amount"]))
    return JsonResponse({"task_id": handle.id}, status=202)


def transfer_status(request: HttpRequest, task_id: str) -> JsonResponse:
    handle = transfer.AsyncResult(task_id)
    return JsonResponse({"state": handle.status, "result": handle.result})
