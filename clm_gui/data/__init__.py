"""Datasets: sources, files and uploads, profiling, and the packed windows the model trains on."""
