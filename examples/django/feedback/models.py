from django.db import models


class Feedback(models.Model):
    email = models.EmailField()
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)


class Order(models.Model):
    item = models.CharField(max_length=100)
    confirmed = models.BooleanField(default=False)


class Account(models.Model):
    name = models.CharField(max_length=100, unique=True)
    balance = models.IntegerField(default=0)
