@echo off
REM One-shot start on Windows with Docker Desktop: Kafka + Kafka UI in Docker, the pipeline in the background.
REM Logs in logs\<stack>\, pid files in run\<stack>\ (stack "data" on the default lake). Harmless to run again.
setlocal
cd /d "%~dp0"
where python >nul 2>nul || (echo error: python not found: install Python 3.11+ from python.org & exit /b 2)
python -c "import sys; sys.exit(sys.version_info < (3, 11))" || (echo error: Python 3.11+ needed & exit /b 2)
docker info >nul 2>nul || (echo error: Docker Desktop is not running: start it, then run start.bat again & exit /b 2)
if not exist .venv\Scripts\python.exe (
  echo creating .venv
  python -m venv .venv || exit /b 2
)
.venv\Scripts\python.exe -m pip install -q --disable-pip-version-check -r requirements.txt || exit /b 2
.venv\Scripts\python.exe -m scripts.stack start
exit /b %ERRORLEVEL%
