@echo off
REM Stop what start.bat started (producer first, Kafka last).
setlocal
cd /d "%~dp0"
.venv\Scripts\python.exe -m scripts.stack stop
exit /b %ERRORLEVEL%
