SELECT source, status, count(*) FROM label_events GROUP BY source, status ORDER BY 1, 2;
