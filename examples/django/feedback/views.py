import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from feedback.models import Feedback
from feedback.tasks import count_words, generate_annual_report, send_thank_you_email


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
