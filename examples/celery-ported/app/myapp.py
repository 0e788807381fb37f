"""myapp.py

Usage::

   (window1)$ arame worker myapp:app

   (window2)$ python
   >>> from myapp import add
   >>> add.delay(16, 16).get()
   32
"""
from time import sleep

from arame import App

app = App(
    'myapp',
    broker='amqp://guest@localhost//',
    # ## add result backend here if needed.
    # backend='rpc'
    task_acks_late=True,
)


@app.task
def add(x, y):
    sleep(0.1)
    return x + y
