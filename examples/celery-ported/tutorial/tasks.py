from arame import App

app = App('tasks', broker='amqp://')


@app.task()
def add(x, y):
    return x + y
