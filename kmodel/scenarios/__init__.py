"""Built-in scenarios: commented kmodel scripts (*.kms), one lesson each."""
