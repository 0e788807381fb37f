from datetime import timedelta

from arame import App

app = App('proj',
          broker='amqp://',
          result_expires=timedelta(seconds=3600))

app.autodiscover_tasks(['proj'])
