"""Repository audits as the application runs them: one audit driven through the graph to its report
(:mod:`workbench.tasks.runner`), the server's background tasks with replayable events
(:mod:`workbench.tasks.manager`), and an audit of a folder the CLI names (:mod:`workbench.tasks.direct`)."""
