"""Answering free-text questions from the knowledge base."""
