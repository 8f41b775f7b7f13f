from figmine.cli import app

app(prog_name="figmine")
