# The API and the consumers share one image; the command picks the process.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY models models
COPY matcher matcher
COPY consumers consumers
COPY api api
COPY scripts scripts
COPY web web
COPY bootstrap.py .
# Not root: the processes only read the code and write their snapshots. Docker copies /data's owner into an
# empty named volume mounted there, and .cache is where snapshots go when SNAPSHOT_DIR is not set.
RUN useradd --create-home --uid 10001 app && mkdir -p /data /app/.cache && chown app:app /data /app/.cache
USER app
EXPOSE 8000
CMD ["python", "-m", "api.main", "--host", "0.0.0.0", "--port", "8000"]
