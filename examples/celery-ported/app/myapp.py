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
)


@app.task
def add(x, y):
    sleep(0.1)
    return x + y
