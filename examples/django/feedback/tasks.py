"""Discovered at start-up by arame.django: the shared tasks bind to the project's App."""

from django.core.mail import send_mail

from arame import shared_task
from arame.django.compat import ROOT

if ROOT == "django.tasks":
    from django.tasks import task
else:  # Django 5.2: the django-tasks backport
    from django_tasks import task


@shared_task(max_retries=5, retry_backoff=True, autoretry_for=(ConnectionError,))
def send_thank_you_email(address: str) -> None:
    send_mail("Thank you", "We read every message.", None, [address])


@shared_task
def generate_annual_report(year: int) -> dict[str, int]:
    from feedback.models import Feedback

    return {"year": year, "messages": Feedback.objects.filter(created_at__year=year).count()}


@task
def count_words(text: str) -> int:
    """A django.tasks task: enqueued with count_words.enqueue(...), run by the arame worker."""
    return len(text.split())


@shared_task
def confirm_order(order_id: int) -> str:
    """Published inside the view's transaction: it always finds the order that view saved."""
    from feedback.models import Order

    order = Order.objects.get(id=order_id)
    order.confirmed = True
    order.save(update_fields=["confirmed"])
    return order.item


@shared_task(atomic=True)
def transfer(source: str, target: str, amount: int) -> dict[str, int]:
    """Atomic: these writes commit with the task's SUCCESS row, so a transfer happens exactly once,
    whatever is killed when."""
    from django.db.models import F
    from feedback.models import Account

    Account.objects.filter(name=source).update(balance=F("balance") - amount)
    Account.objects.filter(name=target).update(balance=F("balance") + amount)
    return {account.name: account.balance for account in Account.objects.filter(name__in=[source, target])}
