"""The example's views with Django's test client: a real worker, and immediate mode."""

from datetime import UTC, datetime

from django.core import mail
from django.test import TestCase, TransactionTestCase
from feedback.models import Order

from arame.django import get_app
from arame.testing import immediate, run_until_empty


def drain() -> None:
    run_until_empty(get_app(), queues=[get_app().default_queue])


class WithARealWorker(TransactionTestCase):
    def test_feedback_is_saved_and_a_worker_sends_the_thank_you_email(self) -> None:
        response = self.client.post("/feedback/", {"email": "ada@example.com", "message": "Lovely"})
        self.assertEqual(response.status_code, 201)
        drain()
        self.assertEqual([m.to for m in mail.outbox], [["ada@example.com"]])

    def test_the_annual_report_is_polled_by_id_until_it_is_ready(self) -> None:
        self.client.post("/feedback/", {"email": "ada@example.com", "message": "Lovely"})
        year = datetime.now(UTC).year
        task_id = self.client.post("/reports/", {"year": year}).json()["task_id"]
        self.assertEqual(self.client.get(f"/reports/{task_id}/").json()["state"], "PENDING")
        drain()
        body = self.client.get(f"/reports/{task_id}/").json()
        self.assertEqual(body, {"state": "SUCCESS", "result": {"year": year, "messages": 1}})

    def test_a_django_tasks_task_runs_on_the_arame_worker(self) -> None:
        result_id = self.client.post("/word-count/", {"text": "one two three"}, "application/json").json()[
            "id"
        ]
        self.assertEqual(self.client.get("/word-count/", {"id": result_id}).json()["status"], "READY")
        drain()
        self.assertEqual(
            self.client.get("/word-count/", {"id": result_id}).json(), {"status": "SUCCESSFUL", "value": 3}
        )

    def test_an_order_saved_with_its_task_in_one_transaction_is_confirmed_by_a_worker(self) -> None:
        body = self.client.post("/orders/", {"item": "tea"}).json()
        self.assertEqual(get_app().AsyncResult(body["task_id"]).state, "PENDING")
        drain()
        self.assertTrue(Order.objects.get(id=body["id"]).confirmed)

    def test_an_atomic_transfer_moves_the_money_with_its_result(self) -> None:
        form = {"source": "ada", "target": "grace", "amount": 30}
        task_id = self.client.post("/transfers/", form).json()["task_id"]
        drain()
        self.assertEqual(
            self.client.get(f"/transfers/{task_id}/").json(),
            {"state": "SUCCESS", "result": {"ada": 70, "grace": 130}},
        )


class InATestCaseWithImmediateMode(TestCase):
    def test_the_thank_you_email_is_sent_when_the_test_commits_its_on_commit_callbacks(self) -> None:
        with immediate(get_app()), self.captureOnCommitCallbacks(execute=True):
            self.client.post("/feedback/", {"email": "grace@example.com", "message": "Great"})
        self.assertEqual([m.to for m in mail.outbox], [["grace@example.com"]])
