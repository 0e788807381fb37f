from arame import App

app = App('proj',
          broker='amqp://',
          include=['proj.tasks'])

# Optional configuration, see the application user guide.
app.conf.update(
    result_expires=3600,
)
