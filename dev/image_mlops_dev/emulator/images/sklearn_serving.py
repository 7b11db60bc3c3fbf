"""The scikit-learn image's model server, run with the profile's virtualenv (never ours).

SageMaker's scikit-learn image starts ``serve``: ``sagemaker_containers``' ``server.start``
with ``SAGEMAKER_SERVING_MODULE=sagemaker_sklearn_container.serving:main``. ``server.start``
installs the model's code (``SAGEMAKER_SUBMIT_DIRECTORY``, with pip, as a package), then
runs gunicorn (gevent workers) on that WSGI app, which wraps the model's handlers in
``sagemaker_containers``' ``Transformer`` and serves it with its ``Worker`` (Flask).

``sagemaker_sklearn_container`` is built from aws/sagemaker-scikit-learn-container, not
published on PyPI, so :func:`main` below is its ``serving.main`` in our words: the same
toolkit calls, with the same defaults (``default_model_fn`` from the toolkit's transformer;
a user ``transform_fn`` with any of the three others is refused, as the image refuses it).
The rest is the toolkit's own code. Source: aws/sagemaker-scikit-learn-container, tag
``v1.4-2-py312``, ``src/sagemaker_sklearn_container/serving.py`` (2026-04-17).

Run as ``python sklearn_serving.py`` with the container's environment
(``SAGEMAKER_BASE_DIR``, ``SAGEMAKER_PROGRAM``, ``SAGEMAKER_SUBMIT_DIRECTORY``,
``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_USE_NGINX=false``); it must import nothing of ours.
"""

import importlib

from sagemaker_containers.beta.framework import encoders, env, server, transformer, worker

_app = None


def _input_fn(data, content_type):
    return encoders.decode(data, content_type)


def _predict_fn(data, model):
    return model.predict(data)


def _output_fn(prediction, accept):
    return worker.Response(encoders.encode(prediction, accept), mimetype=accept)


def _transformer(user_module):
    handlers = {
        name: getattr(user_module, name, None)
        for name in ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
    }
    model_fn = handlers["model_fn"] or transformer.default_model_fn
    if handlers["transform_fn"] is not None:
        if handlers["input_fn"] or handlers["predict_fn"] or handlers["output_fn"]:
            raise ValueError(
                "Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn"
            )
        return transformer.Transformer(model_fn=model_fn, transform_fn=handlers["transform_fn"])
    return transformer.Transformer(
        model_fn=model_fn,
        input_fn=handlers["input_fn"]
        or (lambda data, content_type: encoders.decode(data, content_type)),
        predict_fn=handlers["predict_fn"] or (lambda data, model: model.predict(data)),
        output_fn=handlers["output_fn"] or _output_fn,
    )


def main(environ, start_response):
    """The WSGI app gunicorn serves (``SAGEMAKER_SERVING_MODULE``)."""
    global _app
    if _app is None:
        serving_env = env.ServingEnv()
        # server.start installed the model's code as a package before gunicorn started
        user_module = importlib.import_module(serving_env.module_name)
        user_transformer = _transformer(user_module)
        user_transformer.initialize()
        _app = worker.Worker(
            transform_fn=user_transformer.transform,
            module_name=serving_env.module_name,
            execution_parameters_fn=getattr(user_module, "execution_parameters_fn", None),
        )
    return _app(environ, start_response)


if __name__ == "__main__":
    server.start("sklearn_serving:main")
